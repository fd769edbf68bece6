/* Dense GEMM with weights kept in their stored half precision: y = x . W^T with W [n, k] fp16 or
 * bf16, x fp32, straight from a memory-mapped checkpoint (no fp32 copy of the model). The GEMV /
 * small-M path runs here; at large M the Java side widens weight panels (lb_cpu_half_widen) and
 * hands them to sgemm. The AVX-512 path widens and uses fp32 FMAs rather than vdpbf16ps: that
 * instruction would round x to bf16 too, and the loop is bound by reading W, not by arithmetic. */
#include "common.h"
#include "half_kernels.h"

#define ROW_BLOCK 16 /* weight rows per OpenMP work item */

typedef void (*rows_fn)(const float *, int64_t, int64_t, const uint16_t *, int32_t, int64_t, int64_t, int64_t, int32_t,
                        float *, int64_t);
typedef void (*widen_fn)(const uint16_t *, int32_t, int64_t, float *);

static rows_fn pick_rows(void) {
#ifdef LB_HAVE_AVX512
    if (lb_simd_active >= LB_SIMD_AVX512) return lb_avx512_half_rows;
#endif
#ifdef LB_HAVE_AVX2
    if (lb_simd_active >= LB_SIMD_AVX2) return lb_avx2_half_rows;
#endif
    return lb_scalar_half_rows;
}

static widen_fn pick_widen(void) {
#ifdef LB_HAVE_AVX512
    if (lb_simd_active >= LB_SIMD_AVX512) return lb_avx512_half_widen;
#endif
#ifdef LB_HAVE_AVX2
    if (lb_simd_active >= LB_SIMD_AVX2) return lb_avx2_half_widen;
#endif
    return lb_scalar_half_widen;
}

static lb_status check_half(const char *what, int32_t dtype) {
    if (dtype != LB_DTYPE_F16 && dtype != LB_DTYPE_BF16)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: weight dtype %d is not F16 (1) or BF16 (2)", what, (int)dtype);
    return LB_OK;
}

lb_status lb_cpu_half_gemm(const float *x, int64_t m, int64_t k, const void *w, int32_t w_dtype, int64_t n,
                           int64_t ldw, int32_t accumulate, float *y) {
    if (!x || !w || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "half_gemm: NULL buffer");
    if (m <= 0 || k <= 0 || n <= 0 || ldw < k)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "half_gemm: m %lld, k %lld, n %lld, ldw %lld", (long long)m,
                       (long long)k, (long long)n, (long long)ldw);
    if (accumulate != 0 && accumulate != 1)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "half_gemm: accumulate must be 0 or 1, got %d", (int)accumulate);
    lb_status st = check_half("half_gemm", w_dtype);
    if (st != LB_OK) return st;
    const rows_fn rows = pick_rows();
    const int32_t bf16 = w_dtype == LB_DTYPE_BF16;
    const int64_t blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel for schedule(static) if (m * n * k > LB_OMP_MIN_WORK)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t r0 = b * ROW_BLOCK, nr = n - r0 < ROW_BLOCK ? n - r0 : ROW_BLOCK;
        rows(x, m, k, w, bf16, ldw, r0, nr, accumulate, y, n);
    }
    return LB_OK;
}

lb_status lb_cpu_half_widen(const void *src, int32_t dtype, int64_t rows, int64_t cols, int64_t ld, float *dst) {
    if (!src || !dst) return lb_fail(LB_ERR_INVALID_ARGUMENT, "half_widen: NULL buffer");
    if (rows <= 0 || cols <= 0 || ld < cols)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "half_widen: rows %lld, cols %lld, ld %lld", (long long)rows,
                       (long long)cols, (long long)ld);
    lb_status st = check_half("half_widen", dtype);
    if (st != LB_OK) return st;
    const widen_fn widen = pick_widen();
    const uint16_t *s = src;
    const int32_t bf16 = dtype == LB_DTYPE_BF16;
#pragma omp parallel for schedule(static) if (rows * cols > LB_OMP_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) widen(s + r * ld, bf16, cols, dst + r * cols);
    return LB_OK;
}

void lb_scalar_half_widen(const uint16_t *src, int32_t bf16, int64_t len, float *dst) {
    for (int64_t j = 0; j < len; j++) {
        if (bf16) {
            uint32_t bits = (uint32_t)src[j] << 16;
            memcpy(dst + j, &bits, 4);
        } else {
            dst[j] = lb_f16_to_f32(src[j]);
        }
    }
}

void lb_scalar_half_rows(const float *x, int64_t m, int64_t k, const uint16_t *w, int32_t bf16, int64_t ldw,
                         int64_t r0, int64_t nr, int32_t accumulate, float *y, int64_t ldy) {
    float wide[256];
    for (int64_t r = r0; r < r0 + nr; r++)
        for (int64_t i = 0; i < m; i++) {
            float acc = 0.0f;
            for (int64_t j0 = 0; j0 < k; j0 += 256) {
                const int64_t len = k - j0 < 256 ? k - j0 : 256;
                lb_scalar_half_widen(w + r * ldw + j0, bf16, len, wide);
                for (int64_t j = 0; j < len; j++) acc += x[i * k + j0 + j] * wide[j];
            }
            y[i * ldy + r] = accumulate ? y[i * ldy + r] + acc : acc;
        }
}
