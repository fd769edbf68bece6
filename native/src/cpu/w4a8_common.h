/* What the AVX2 and AVX-512 W4A8 kernels share: the per-group fp32 step (so both give the same
 * bits) and the choice of rows to prefetch; each file compiles it with its own target flags. */
#ifndef LB_CPU_W4A8_COMMON_H
#define LB_CPU_W4A8_COMMON_H

#include "checks.h"

#include <immintrin.h>
#include <stdint.h>

/* Row r's codes in the next tile of `rows` rows, fetched into L1 while this tile computes: rows of a
 * few KB end before the hardware prefetcher ramps up (a third faster at k = 4096). The last tile
 * fetches its own rows. */
static inline const uint8_t *lb_w4a8_next_row(const lb_qweight *w, int64_t r, int rows) {
    return (const uint8_t *)(w->codes + (r + rows < w->n ? r + rows : r) * lb_words_per_row(w->k, 4));
}

static inline float lb_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Weight row at's scale and zero point (F16: fp16, else fp32; a compile-time constant at each
 * call keeps the dtype test out of the loop). */
static inline __attribute__((always_inline)) float lb_w4a8_param(const void *p, int64_t at, const int f16) {
    return f16 ? _cvtsh_ss(((const uint16_t *)p)[at]) : ((const float *)p)[at];
}

/* acc += s (dot - (za / 8) wsum - zw A): dot holds one group's exact int32 products in 8 lanes,
 * lanes the group's per-lane sums A of (qa - za) (lb_avx2_lane_sums), wsum its weight code sum.
 * Summed over the lanes that is s sum (qa - za)(qw - zw). Every input is exact in fp32 (integers
 * below 2^24, za / 8), each fused step rounds once, and the lanes stay small, so nothing large
 * cancels. */
static inline __attribute__((always_inline)) __m256 lb_w4a8_group(__m256i dot, const float *lanes, float za, int32_t wsum,
                                                                  float s, float zw, __m256 acc) {
    __m256 t = _mm256_fnmadd_ps(_mm256_set1_ps(za * 0.125f), _mm256_cvtepi32_ps(_mm256_set1_epi32(wsum)), _mm256_cvtepi32_ps(dot));
    t = _mm256_fnmadd_ps(_mm256_set1_ps(zw), _mm256_loadu_ps(lanes), t);
    return _mm256_fmadd_ps(_mm256_set1_ps(s), t, acc);
}

#endif
