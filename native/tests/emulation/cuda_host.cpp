/* The host emulation's state (see include/cuda_host.h). */
#include "cuda_host.h"

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
char *emu_dyn_smem;
EmuBlock *emu_block;
cudaError_t emu_last_error;
size_t emu_smem_limit = 48 * 1024;
