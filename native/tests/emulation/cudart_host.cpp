/* The CUDA runtime calls the Java bindings make (cudart_h), on host memory, for running the JUnit
 * gpu suite against the emulated liblowbit_cuda (java-gpu-tests.sh). One device, cuda:0. */
#include <cstddef>
#include <cstdlib>
#include <cstring>

extern "C" {
int cudaGetDeviceCount(int *n) { *n = 1; return 0; }
int cudaSetDevice(int device) { return device == 0 ? 0 : 101; /* cudaErrorInvalidDevice */ }
int cudaGetDevice(int *device) { *device = 0; return 0; }
int cudaDeviceGetAttribute(int *value, int attribute, int) { /* SM count, compute capability 9.0 */
    *value = attribute == 16 ? 132 : attribute == 75 ? 9 : attribute == 76 ? 0 : 1;
    return 0;
}
int cudaMemGetInfo(size_t *free_bytes, size_t *total) { *free_bytes = 1ull << 33; *total = 1ull << 34; return 0; }
int cudaDriverGetVersion(int *v) { *v = 13000; return 0; }
int cudaRuntimeGetVersion(int *v) { *v = 13000; return 0; }
const char *cudaGetErrorString(int e) { return e ? "an error in the host emulation" : "no error"; }
const char *cudaGetErrorName(int e) { return e ? "cudaErrorEmulated" : "cudaSuccess"; }
int cudaGetLastError(void) { return 0; }
int cudaMalloc(void **p, size_t n) { *p = calloc(1, n ? n : 1); return *p ? 0 : 2; }
int cudaFree(void *p) { free(p); return 0; }
int cudaHostAlloc(void **p, size_t n, unsigned) { return cudaMalloc(p, n); }
int cudaFreeHost(void *p) { free(p); return 0; }
int cudaMemcpy(void *dst, const void *src, size_t n, int) { memmove(dst, src, n); return 0; }
int cudaMemcpyAsync(void *dst, const void *src, size_t n, int, void *) { memmove(dst, src, n); return 0; }
int cudaMemsetAsync(void *dst, int v, size_t n, void *) { memset(dst, v, n); return 0; }
int cudaStreamCreate(void **s) { *s = malloc(1); return 0; }
int cudaStreamDestroy(void *s) { free(s); return 0; }
int cudaStreamSynchronize(void *) { return 0; }
int cudaDeviceSynchronize(void) { return 0; }
int cudaEventCreate(void **e) { *e = malloc(1); return 0; }
int cudaEventDestroy(void *e) { free(e); return 0; }
int cudaEventRecord(void *, void *) { return 0; }
int cudaEventSynchronize(void *) { return 0; }
int cudaEventElapsedTime(float *ms, void *, void *) { *ms = 0.0f; return 0; }
}
