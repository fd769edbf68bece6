/* AVX-512 (F, BW, VL, VNNI) version of the W4A8 GEMM, compiled with those flags and called only
 * when the CPU has them (lb_simd_active == LB_SIMD_AVX512); every other kernel keeps its AVX2
 * version at that level. One vpdpbusd multiplies 64 activation codes by 64 weight codes and adds
 * them into 16 int32 lanes, where AVX2 needs maddubs, add, madd and add for 32 codes.
 * The results are bit-identical to the AVX2 kernel's: each of its 8 int32 lanes, after the two
 * 256-bit halves are added, holds the exact products of the same activation bytes, and the fp32
 * steps are the same (lb_w4a8_group). */
#include "common.h"
#include "kernels_simd.h"
#include "w4a8_common.h"

#include <immintrin.h>

/* Within each block of 128 activation codes: the even positions of its first and second 64 (32
 * each), then the odd ones, matching the low and high nibbles of the 64 packed weight bytes. */
void lb_avx512_split_even_odd(const uint8_t *a, int64_t k, uint8_t *out) {
    for (int64_t b = 0; b + 128 <= k; b += 128)
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 32; t++) {
                out[b + 32 * h + t] = a[b + 64 * h + 2 * t];
                out[b + 64 + 32 * h + t] = a[b + 64 * h + 2 * t + 1];
            }
}

/* ROWS weight rows x ACTS activation rows, 128 columns (64 packed weight bytes per row) a step;
 * F16: fp16 scales and zeros. A lane gains at most 8 * 255 * 15 a step, so a group's int32 sums
 * cannot overflow (groups of at most 2^15). */
static inline __attribute__((always_inline)) void w4a8_tile(const uint8_t *ap, int64_t k, const float *lanes, int64_t groups,
                                                            const float *sa, const float *za, const lb_qweight *w,
                                                            const int32_t *wsums, int64_t r0, float *out, int64_t ldo,
                                                            const int rows, const int acts, const int f16) {
    const int64_t gs = w->group_size, wpr = lb_words_per_row(w->k, 4);
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __m256 accf[4][4];
    for (int r = 0; r < rows; r++)
        for (int a = 0; a < acts; a++) accf[r][a] = _mm256_setzero_ps();
    const uint8_t *next[4];
    for (int r = 0; r < rows; r++) next[r] = lb_w4a8_next_row(w, r0 + r, rows);
    for (int64_t g = 0; g < groups; g++) {
        __m512i dot[4][4];
        for (int r = 0; r < rows; r++)
            for (int a = 0; a < acts; a++) dot[r][a] = _mm512_setzero_si512();
        for (int64_t j = g * gs; j < (g + 1) * gs; j += 128) {
            __m512i xlo[4], xhi[4];
            for (int a = 0; a < acts; a++) {
                xlo[a] = _mm512_loadu_si512(ap + a * k + j);
                xhi[a] = _mm512_loadu_si512(ap + a * k + j + 64);
            }
            for (int r = 0; r < rows; r++) {
                const __m512i v = _mm512_loadu_si512((const uint8_t *)(w->codes + (r0 + r) * wpr) + j / 2);
                _mm_prefetch((const char *)(next[r] + j / 2), _MM_HINT_T0);
                const __m512i lo = _mm512_and_si512(v, nib), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
                for (int a = 0; a < acts; a++) dot[r][a] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(dot[r][a], xlo[a], lo), xhi[a], hi);
            }
        }
        for (int r = 0; r < rows; r++) {
            const int64_t at = (r0 + r) * groups + g;
            const float s = lb_w4a8_param(w->scales, at, f16), zw = lb_w4a8_param(w->zeros, at, f16);
            for (int a = 0; a < acts; a++) {
                const __m256i d = _mm256_add_epi32(_mm512_castsi512_si256(dot[r][a]), _mm512_extracti64x4_epi64(dot[r][a], 1));
                accf[r][a] = lb_w4a8_group(d, lanes + (a * groups + g) * 8, za[a], wsums[at], s, zw, accf[r][a]);
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int a = 0; a < acts; a++) out[a * ldo + r] = sa[a] * lb_hsum256(accf[r][a]);
}

/* Weight rows [r0, r0 + nr) against m activation rows. At M = 1 tiles of 4 weight rows; above,
 * pairs of weight rows against 4 activation rows at a time, so a weight vector is read once per
 * 4 activation rows and the pair's rows stay in L1 while the activation rows go by. */
static inline __attribute__((always_inline)) void w4a8_rows(const uint8_t *a_split, int64_t m, const float *lanes, const float *sa,
                                                            const float *za, const lb_qweight *w, const int32_t *wsums, int64_t r0,
                                                            int64_t nr, float *y, const int f16) {
    const int64_t k = w->k, n = w->n, groups = k / w->group_size, end = r0 + nr;
    if (m == 1) {
        int64_t r = r0;
        for (; r + 4 <= end; r += 4) w4a8_tile(a_split, k, lanes, groups, sa, za, w, wsums, r, y + r, n, 4, 1, f16);
        for (; r < end; r++) w4a8_tile(a_split, k, lanes, groups, sa, za, w, wsums, r, y + r, n, 1, 1, f16);
        return;
    }
    for (int64_t r = r0; r < end; r += 2) {
        const int pair = r + 2 <= end;
        for (int64_t i = 0; i < m;) {
            const uint8_t *ai = a_split + i * k;
            const float *li = lanes + i * groups * 8;
            float *yi = y + i * n + r;
            if (i + 4 <= m) {
                if (pair) w4a8_tile(ai, k, li, groups, sa + i, za + i, w, wsums, r, yi, n, 2, 4, f16);
                else w4a8_tile(ai, k, li, groups, sa + i, za + i, w, wsums, r, yi, n, 1, 4, f16);
                i += 4;
            } else {
                if (pair) w4a8_tile(ai, k, li, groups, sa + i, za + i, w, wsums, r, yi, n, 2, 1, f16);
                else w4a8_tile(ai, k, li, groups, sa + i, za + i, w, wsums, r, yi, n, 1, 1, f16);
                i++;
            }
        }
    }
}

int lb_avx512_w4a8_supported(const lb_qweight *w) { return w->bits == 4 && w->group_size % 128 == 0; }

void lb_avx512_w4a8_rows(const uint8_t *a_split, int64_t m, const float *lanes, const float *sa, const float *za, const lb_qweight *w,
                         const int32_t *wsums, int64_t r0, int64_t nr, float *y) {
    if (w->scale_dtype == LB_DTYPE_F16) w4a8_rows(a_split, m, lanes, sa, za, w, wsums, r0, nr, y, 1);
    else w4a8_rows(a_split, m, lanes, sa, za, w, wsums, r0, nr, y, 0);
}
