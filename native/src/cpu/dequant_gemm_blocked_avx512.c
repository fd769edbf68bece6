/* The blocked dequant-GEMM's AVX-512 micro-kernel (dequant_gemm_blocked.h has the driver): 32
 * activation rows x 12 weight rows, 24 zmm accumulators, 2 FMAs per broadcast weight, so each 128
 * bytes of activations loaded feed 24 FMAs (the AVX2 one feeds 12 per 64). Compiled with the AVX-512
 * flags, called at that level. */
#define MR 32 /* activation rows per micro-kernel: two 16-float vectors */
#define NR 12 /* weight rows per micro-kernel */

#include <immintrin.h>
#include <stdint.h>

/* y[i][r0 + r] += sum_p xp[p][i] wp[r][p] for i < mi, r < nr; the accumulators are named one by one (as
 * an array GCC spills them). */
static void micro(const float *xp, const float *wp, int64_t kc, float *y, int64_t n, int64_t mi, int64_t nr) {
#define LB_ACC(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    LB_ACC(0) LB_ACC(1) LB_ACC(2) LB_ACC(3) LB_ACC(4) LB_ACC(5) LB_ACC(6) LB_ACC(7) LB_ACC(8) LB_ACC(9) LB_ACC(10) LB_ACC(11)
#undef LB_ACC
    for (int64_t p = 0; p < kc; p++) {
        const __m512 a0 = _mm512_load_ps(xp + p * MR), a1 = _mm512_load_ps(xp + p * MR + 16);
#define LB_FMA(r)                                              \
    {                                                          \
        const __m512 b = _mm512_set1_ps(wp[(r) * kc + p]);     \
        c##r##0 = _mm512_fmadd_ps(a0, b, c##r##0);             \
        c##r##1 = _mm512_fmadd_ps(a1, b, c##r##1);             \
    }
        LB_FMA(0) LB_FMA(1) LB_FMA(2) LB_FMA(3) LB_FMA(4) LB_FMA(5) LB_FMA(6) LB_FMA(7) LB_FMA(8) LB_FMA(9) LB_FMA(10) LB_FMA(11)
#undef LB_FMA
    }
    float t[NR][MR];
#define LB_STORE(r) _mm512_storeu_ps(t[r], c##r##0), _mm512_storeu_ps(t[r] + 16, c##r##1);
    LB_STORE(0) LB_STORE(1) LB_STORE(2) LB_STORE(3) LB_STORE(4) LB_STORE(5) LB_STORE(6) LB_STORE(7) LB_STORE(8) LB_STORE(9)
    LB_STORE(10) LB_STORE(11)
#undef LB_STORE
    for (int64_t i = 0; i < mi; i++)
        for (int64_t r = 0; r < nr; r++) y[i * n + r] += t[r][i];
}

#define LB_DEQUANT_BLOCKED lb_avx512_dequant_gemm_blocked
#include "dequant_gemm_blocked.h"
