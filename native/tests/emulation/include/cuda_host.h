/* A host emulation of the CUDA execution model, for running liblowbit_cuda's kernel sources on a
 * CPU (the cuda_emulated test): every CUDA thread of a block is a std::thread, blocks run one after
 * another (so `__shared__` can be a function-level static), __syncthreads is a barrier of the block,
 * warp shuffles exchange through a per-warp barrier, and device memory is host memory. It checks
 * the kernels' index arithmetic, reductions and numerics against the CPU kernels where no GPU is;
 * it cannot show races, memory-model or launch-limit problems of a real device, or tensor-core
 * rounding. Stand-ins for cuda_runtime.h, cuda_fp16.h, cuda_bf16.h and mma.h include this file. */
#ifndef LB_CUDA_HOST_H
#define LB_CUDA_HOST_H

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

using std::isfinite;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static /* one block runs at a time */
#define __align__(n) __attribute__((aligned(n)))
#define CUDART_VERSION 13000

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint2 {
    unsigned x, y;
};
struct uint4 {
    unsigned x, y, z, w;
};
extern thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
extern char *emu_dyn_smem; /* the launch's dynamic shared memory (to_host.pl points extern __shared__ arrays here) */

/* The running block's barriers and the warps' shuffle slots. */
struct EmuBlock {
    std::unique_ptr<std::barrier<>> all;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<std::vector<uint64_t>> slots;
    std::atomic<int> falses{0};
};
extern EmuBlock *emu_block;

inline void __syncthreads() { emu_block->all->arrive_and_wait(); }

inline void __syncwarp(unsigned = 0xffffffffu) { emu_block->warps[threadIdx.x >> 5]->arrive_and_wait(); }

inline int __syncthreads_and(int predicate) {
    __syncthreads();
    if (!predicate) emu_block->falses.fetch_add(1);
    __syncthreads();
    const int all = emu_block->falses.load() == 0;
    __syncthreads();
    if (threadIdx.x == 0) emu_block->falses.store(0);
    __syncthreads();
    return all;
}

template <typename T> T __shfl_xor_sync(unsigned, T v, int lane_mask) {
    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    emu_block->slots[w][lane] = bits;
    emu_block->warps[w]->arrive_and_wait();
    const uint64_t theirs = emu_block->slots[w][lane ^ lane_mask];
    emu_block->warps[w]->arrive_and_wait();
    T out;
    memcpy(&out, &theirs, sizeof(T));
    return out;
}

/* Intrinsics: the host operations round the same way (the test is built with -ffp-contract=off). */
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline float __double2float_rn(double a) { return (float)a; }
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
template <typename T> inline T __ldg(const T *p) { return *p; }
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned selector) {
    uint8_t b[8];
    memcpy(b, &x, 4);
    memcpy(b + 4, &y, 4);
    unsigned r = 0;
    for (int i = 0; i < 4; i++) r |= (unsigned)b[(selector >> (4 * i)) & 7] << (8 * i);
    return r;
}
inline unsigned __dp4a(unsigned a, unsigned b, unsigned c) {
    for (int i = 0; i < 4; i++) c += ((a >> (8 * i)) & 255u) * ((b >> (8 * i)) & 255u);
    return c;
}
inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v) {
    std::atomic_ref<unsigned long long> a(*p);
    unsigned long long cur = a.load();
    while (v < cur && !a.compare_exchange_weak(cur, v)) {
    }
    return cur;
}
inline float atomicAdd(float *p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }

/* The runtime calls the library makes, on host memory. */
typedef int cudaError_t;
struct CUstream_st;
typedef CUstream_st *cudaStream_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
extern cudaError_t emu_last_error;
extern size_t emu_smem_limit;
inline cudaError_t cudaGetLastError() {
    const cudaError_t e = emu_last_error;
    emu_last_error = cudaSuccess;
    return e;
}
inline const char *cudaGetErrorName(cudaError_t e) { return e ? "cudaErrorEmulated" : "cudaSuccess"; }
inline const char *cudaGetErrorString(cudaError_t e) { return e ? "an invalid launch in the emulation" : "no error"; }
inline cudaError_t cudaMalloc(void **p, size_t n) {
    *p = calloc(1, n ? n : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
inline cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaFreeAsync(void *p, cudaStream_t) { return cudaFree(p); }
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    memmove(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, n, kind);
}
inline cudaError_t cudaMemsetAsync(void *dst, int v, size_t n, cudaStream_t) {
    memset(dst, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
template <typename K> cudaError_t cudaFuncSetAttribute(K, cudaFuncAttribute, int bytes) {
    if (bytes > 227 * 1024) return cudaErrorInvalidConfiguration; /* Hopper's opt-in limit */
    emu_smem_limit = std::max(emu_smem_limit, (size_t)bytes);
    return cudaSuccess;
}

/* kernel<<<grid, block, smem>>>(args) as to_host.pl writes it. A launch a GPU would refuse (more
 * than 1024 threads, a grid too tall, too much shared memory) sets the error instead. */
template <typename K, typename... A> void emu_launch(K kernel, dim3 grid, dim3 block, size_t smem, A... args) {
    const unsigned n = block.x * block.y * block.z;
    if (n == 0 || n > 1024 || n % 32 || grid.x == 0 || grid.y == 0 || grid.y > 65535 || grid.z > 65535 || smem > emu_smem_limit) {
        emu_last_error = cudaErrorInvalidConfiguration;
        return;
    }
    blockDim = block;
    gridDim = grid;
    std::vector<char> dynamic(smem + 64);
    emu_dyn_smem = dynamic.data();
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                EmuBlock b;
                b.all = std::make_unique<std::barrier<>>(n);
                for (unsigned w = 0; w < n / 32; w++) {
                    b.warps.push_back(std::make_unique<std::barrier<>>(32));
                    b.slots.emplace_back(32);
                }
                emu_block = &b;
                std::vector<std::thread> threads;
                for (unsigned t = 0; t < n; t++)
                    threads.emplace_back([&, t] {
                        threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
                        blockIdx = dim3(bx, by, bz);
                        kernel(args...);
                        b.warps[t / 32]->arrive_and_drop(); /* a returned thread no longer holds the others back */
                        b.all->arrive_and_drop();
                    });
                for (std::thread &t : threads) t.join();
            }
}

#endif
