/* Library-wide state of liblowbit_cuda: last error per thread, versions, the data-check flag. */
#include "common.cuh"

#include <stdarg.h>
#include <stdio.h>

#ifndef LB_VERSION_STRING
#define LB_VERSION_STRING "0.0.0"
#endif

static thread_local char last_error[1024];

extern "C" lb_status lb_fail(lb_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

extern "C" void lb_clear_error(void) { last_error[0] = '\0'; }

lb_status lb_cuda_fail(cudaError_t err, const char *what) {
    cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
    return lb_fail(LB_ERR_CUDA, "%s: CUDA error %d (%s): %s", what, (int)err, cudaGetErrorName(err), cudaGetErrorString(err));
}

lb_status lb_cuda_launched(const char *what) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return lb_cuda_fail(err, what);
    lb_clear_error();
    return LB_OK;
}

lb_status lb_flag_open(lb_flag *f, cudaStream_t stream, const char *what) {
    f->dev = NULL;
    LB_CUDA_TRY(cudaMallocAsync((void **)&f->dev, sizeof *f->dev, stream), what);
    cudaError_t err = cudaMemsetAsync(f->dev, 0xFF, sizeof *f->dev, stream);
    if (err != cudaSuccess) {
        cudaFreeAsync(f->dev, stream);
        return lb_cuda_fail(err, what);
    }
    return LB_OK;
}

lb_status lb_flag_close(lb_flag *f, cudaStream_t stream, unsigned long long *first, const char *what) {
    cudaError_t err = cudaGetLastError(); /* the checking kernel's launch */
    if (err == cudaSuccess) err = cudaMemcpyAsync(first, f->dev, sizeof *first, cudaMemcpyDeviceToHost, stream);
    cudaError_t freed = cudaFreeAsync(f->dev, stream);
    cudaError_t synced = cudaStreamSynchronize(stream);
    if (err == cudaSuccess) err = freed;
    if (err == cudaSuccess) err = synced;
    return err == cudaSuccess ? LB_OK : lb_cuda_fail(err, what);
}

extern "C" const char *lb_cuda_last_error(void) { return last_error; }

extern "C" const char *lb_cuda_version(void) { return LB_VERSION_STRING; }

extern "C" int32_t lb_cuda_runtime_version(void) { return CUDART_VERSION; }

extern "C" int32_t lb_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}
