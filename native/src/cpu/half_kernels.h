/* Half-precision-weight kernels (fp16 / bf16 W, fp32 x): one scalar, AVX2 and AVX-512 version of
 * each inner loop, chosen by half_gemm.c on lb_simd_active. Weights are widened to fp32 exactly
 * (bf16 is the high half of an fp32; fp16 through F16C), then multiplied and summed in fp32. */
#ifndef LB_CPU_HALF_KERNELS_H
#define LB_CPU_HALF_KERNELS_H

#include <stdint.h>

/* dst[j] = src[j] widened, j < len; bf16 != 0: src is bf16, else fp16. */
void lb_scalar_half_widen(const uint16_t *src, int32_t bf16, int64_t len, float *dst);
void lb_avx2_half_widen(const uint16_t *src, int32_t bf16, int64_t len, float *dst);
void lb_avx512_half_widen(const uint16_t *src, int32_t bf16, int64_t len, float *dst);

/* y[i * ldy + r] (+)= dot(x[i * k ..], w[r * ldw ..]) over k, for i < m and weight rows r in
 * [r0, r0 + nr); accumulate 0 or 1. */
void lb_scalar_half_rows(const float *x, int64_t m, int64_t k, const uint16_t *w, int32_t bf16, int64_t ldw,
                         int64_t r0, int64_t nr, int32_t accumulate, float *y, int64_t ldy);
void lb_avx2_half_rows(const float *x, int64_t m, int64_t k, const uint16_t *w, int32_t bf16, int64_t ldw,
                       int64_t r0, int64_t nr, int32_t accumulate, float *y, int64_t ldy);
void lb_avx512_half_rows(const float *x, int64_t m, int64_t k, const uint16_t *w, int32_t bf16, int64_t ldw,
                         int64_t r0, int64_t nr, int32_t accumulate, float *y, int64_t ldy);

#endif
