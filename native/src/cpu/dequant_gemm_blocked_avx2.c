/* The blocked dequant-GEMM's AVX2 + FMA micro-kernel (dequant_gemm_blocked.h has the driver): 16
 * activation rows x 6 weight rows, 12 accumulators, 2 FMAs per broadcast weight. Compiled with
 * -mavx2 -mfma -mf16c, called at the AVX2 level. */
#define MR 16 /* activation rows per micro-kernel: two 8-float vectors */
#define NR 6  /* weight rows per micro-kernel */

#include <immintrin.h>
#include <stdint.h>

/* y[i][r0 + r] += sum_p xp[p][i] wp[r][p] for i < mi, r < nr. The accumulators are named one by one:
 * as an array GCC stores them back to the stack on every step. */
static void micro(const float *xp, const float *wp, int64_t kc, float *y, int64_t n, int64_t mi, int64_t nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *w0 = wp, *w1 = wp + kc, *w2 = wp + 2 * kc, *w3 = wp + 3 * kc, *w4 = wp + 4 * kc, *w5 = wp + 5 * kc;
    for (int64_t p = 0; p < kc; p++) {
        const __m256 a0 = _mm256_load_ps(xp + p * MR), a1 = _mm256_load_ps(xp + p * MR + 8);
        __m256 b = _mm256_broadcast_ss(w0 + p);
        c00 = _mm256_fmadd_ps(a0, b, c00);
        c01 = _mm256_fmadd_ps(a1, b, c01);
        b = _mm256_broadcast_ss(w1 + p);
        c10 = _mm256_fmadd_ps(a0, b, c10);
        c11 = _mm256_fmadd_ps(a1, b, c11);
        b = _mm256_broadcast_ss(w2 + p);
        c20 = _mm256_fmadd_ps(a0, b, c20);
        c21 = _mm256_fmadd_ps(a1, b, c21);
        b = _mm256_broadcast_ss(w3 + p);
        c30 = _mm256_fmadd_ps(a0, b, c30);
        c31 = _mm256_fmadd_ps(a1, b, c31);
        b = _mm256_broadcast_ss(w4 + p);
        c40 = _mm256_fmadd_ps(a0, b, c40);
        c41 = _mm256_fmadd_ps(a1, b, c41);
        b = _mm256_broadcast_ss(w5 + p);
        c50 = _mm256_fmadd_ps(a0, b, c50);
        c51 = _mm256_fmadd_ps(a1, b, c51);
    }
    float t[NR][MR];
    _mm256_storeu_ps(t[0], c00), _mm256_storeu_ps(t[0] + 8, c01);
    _mm256_storeu_ps(t[1], c10), _mm256_storeu_ps(t[1] + 8, c11);
    _mm256_storeu_ps(t[2], c20), _mm256_storeu_ps(t[2] + 8, c21);
    _mm256_storeu_ps(t[3], c30), _mm256_storeu_ps(t[3] + 8, c31);
    _mm256_storeu_ps(t[4], c40), _mm256_storeu_ps(t[4] + 8, c41);
    _mm256_storeu_ps(t[5], c50), _mm256_storeu_ps(t[5] + 8, c51);
    for (int64_t i = 0; i < mi; i++)
        for (int64_t r = 0; r < nr; r++) y[i * n + r] += t[r][i];
}

#define LB_DEQUANT_BLOCKED lb_avx2_dequant_gemm_blocked
#include "dequant_gemm_blocked.h"
