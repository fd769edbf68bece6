/* AVX2 + F16C versions of half_kernels.h: 8 weights widened per step, 4 weight rows share each x load. */
#include "half_kernels.h"

#include <immintrin.h>

static inline __m256 widen8(const uint16_t *p, int32_t bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void lb_avx2_half_widen(const uint16_t *src, int32_t bf16, int64_t len, float *dst) {
    int64_t j = 0;
    for (; j + 8 <= len; j += 8) _mm256_storeu_ps(dst + j, widen8(src + j, bf16));
    lb_scalar_half_widen(src + j, bf16, len - j, dst + j);
}

/* dots of x (length k) with rows w0..w3; the tail beyond a multiple of 8 in scalar. */
static inline void dot4(const float *x, int64_t k, const uint16_t *const w[4], int32_t bf16, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 xv = _mm256_loadu_ps(x + j);
        a0 = _mm256_fmadd_ps(widen8(w[0] + j, bf16), xv, a0);
        a1 = _mm256_fmadd_ps(widen8(w[1] + j, bf16), xv, a1);
        a2 = _mm256_fmadd_ps(widen8(w[2] + j, bf16), xv, a2);
        a3 = _mm256_fmadd_ps(widen8(w[3] + j, bf16), xv, a3);
    }
    out[0] = hsum8(a0);
    out[1] = hsum8(a1);
    out[2] = hsum8(a2);
    out[3] = hsum8(a3);
    if (j < k) {
        float tail[8];
        for (int t = 0; t < 4; t++) {
            lb_scalar_half_widen(w[t] + j, bf16, k - j, tail);
            for (int64_t i = 0; i < k - j; i++) out[t] += x[j + i] * tail[i];
        }
    }
}

void lb_avx2_half_rows(const float *x, int64_t m, int64_t k, const uint16_t *w, int32_t bf16, int64_t ldw,
                       int64_t r0, int64_t nr, int32_t accumulate, float *y, int64_t ldy) {
    for (int64_t r = r0; r < r0 + nr; r += 4) {
        const int64_t rows = r0 + nr - r < 4 ? r0 + nr - r : 4;
        const uint16_t *wr[4];
        for (int t = 0; t < 4; t++) wr[t] = w + (r + (t < rows ? t : 0)) * ldw; /* short tile: repeat a row */
        for (int64_t i = 0; i < m; i++) {
            float d[4];
            dot4(x + i * k, k, wr, bf16, d);
            for (int t = 0; t < rows; t++) y[i * ldy + r + t] = accumulate ? y[i * ldy + r + t] + d[t] : d[t];
        }
    }
}
