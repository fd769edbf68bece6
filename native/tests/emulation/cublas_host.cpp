/* The cuBLAS calls Cublas.java makes, on host memory, for the JUnit gpu suite on the emulation:
 * cublasGemmEx as the BLAS reference defines it (column-major, op(A) m x k, op(B) k x n), fp32,
 * fp16 or bf16 inputs, fp32 output and accumulation. Any other type is refused, as cuBLAS would. */
#include "cuda_bf16.h"
#include "cuda_fp16.h"

enum { R_32F = 0, R_16F = 2, R_16BF = 14, OP_N = 0, OP_T = 1, NOT_SUPPORTED = 15, INVALID_VALUE = 7 };

static float element(const void *p, int type, long i) {
    if (type == R_16F) return __half2float(((const __half *)p)[i]);
    if (type == R_16BF) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return ((const float *)p)[i];
}

extern "C" {
int cublasCreate_v2(void **handle) { *handle = malloc(1); return 0; }
int cublasDestroy_v2(void *handle) { free(handle); return 0; }
int cublasSetStream_v2(void *, void *) { return 0; }
int cublasGetVersion_v2(void *, int *version) { *version = 130000; return 0; }
int cublasSetMathMode(void *, int) { return 0; }
const char *cublasGetStatusString(int status) { return status ? "refused by the host emulation" : "CUBLAS_STATUS_SUCCESS"; }
int cublasGemmEx(void *, int transa, int transb, int m, int n, int k, const void *alpha, const void *A, int atype, int lda,
                 const void *B, int btype, int ldb, const void *beta, void *C, int ctype, int ldc, int, int) {
    for (int t : {atype, btype})
        if (t != R_32F && t != R_16F && t != R_16BF) return NOT_SUPPORTED;
    if (ctype != R_32F || atype != btype) return NOT_SUPPORTED;
    if (m < 0 || n < 0 || k < 0 || lda < (transa == OP_N ? m : k) || ldb < (transb == OP_N ? k : n) || ldc < m) return INVALID_VALUE;
    const float a = *(const float *)alpha, b = *(const float *)beta;
    float *c = (float *)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = 0.0f;
            for (int p = 0; p < k; p++)
                s += element(A, atype, transa == OP_N ? i + (long)p * lda : p + (long)i * lda) *
                     element(B, btype, transb == OP_N ? p + (long)j * ldb : j + (long)p * ldb);
            c[i + (long)j * ldc] = a * s + (b == 0.0f ? 0.0f : b * c[i + (long)j * ldc]);
        }
    return 0;
}
}
