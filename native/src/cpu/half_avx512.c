/* AVX-512 versions of half_kernels.h: 16 weights widened per step (masked loads for the tail),
 * 4 weight rows share each x load. */
#include "half_kernels.h"

#include <immintrin.h>

static inline __m512 widen16(__m256i h, int32_t bf16) {
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

void lb_avx512_half_widen(const uint16_t *src, int32_t bf16, int64_t len, float *dst) {
    for (int64_t j = 0; j < len; j += 16) {
        const __mmask16 mask = len - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (len - j)) - 1u);
        _mm512_mask_storeu_ps(dst + j, mask, widen16(_mm256_maskz_loadu_epi16(mask, src + j), bf16));
    }
}

static inline void dot4(const float *x, int64_t k, const uint16_t *const w[4], int32_t bf16, float out[4]) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t j = 0; j < k; j += 16) {
        const __mmask16 mask = k - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - j)) - 1u);
        const __m512 xv = _mm512_maskz_loadu_ps(mask, x + j);
        a0 = _mm512_fmadd_ps(widen16(_mm256_maskz_loadu_epi16(mask, w[0] + j), bf16), xv, a0);
        a1 = _mm512_fmadd_ps(widen16(_mm256_maskz_loadu_epi16(mask, w[1] + j), bf16), xv, a1);
        a2 = _mm512_fmadd_ps(widen16(_mm256_maskz_loadu_epi16(mask, w[2] + j), bf16), xv, a2);
        a3 = _mm512_fmadd_ps(widen16(_mm256_maskz_loadu_epi16(mask, w[3] + j), bf16), xv, a3);
    }
    out[0] = _mm512_reduce_add_ps(a0);
    out[1] = _mm512_reduce_add_ps(a1);
    out[2] = _mm512_reduce_add_ps(a2);
    out[3] = _mm512_reduce_add_ps(a3);
}

void lb_avx512_half_rows(const float *x, int64_t m, int64_t k, const uint16_t *w, int32_t bf16, int64_t ldw,
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
