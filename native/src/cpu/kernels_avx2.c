/* AVX2 + FMA + F16C versions of the inner loops (compiled with -mavx2 -mfma -mf16c and
 * called only when the CPU has them). Same results as kernels_scalar.c up to the order of
 * floating-point summation; codes and dequantized values are bit-identical. */
#include "common.h"
#include "kernels_simd.h"
#include "w4a8_common.h"

#include <immintrin.h>

int lb_avx2_minmax(const float *w, int64_t len, float *mn, float *mx) {
    if (len < 8) return lb_scalar_minmax(w, len, mn, mx);
    __m256 lo = _mm256_loadu_ps(w), hi = lo;
    __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 inf = _mm256_set1_ps(INFINITY);
    __m256 bad = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256 v = _mm256_loadu_ps(w + i);
        /* |v| >= inf or unordered (NaN): not finite */
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_and_ps(v, absmask), inf, _CMP_NLT_UQ));
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, lo);
    _mm256_storeu_ps(h, hi);
    float a = l[0], b = h[0];
    for (int t = 1; t < 8; t++) {
        a = l[t] < a ? l[t] : a;
        b = h[t] > b ? h[t] : b;
    }
    int finite = _mm256_movemask_ps(bad) == 0;
    if (i < len) {
        float ta, tb;
        finite &= lb_scalar_minmax(w + i, len - i, &ta, &tb);
        a = ta < a ? ta : a;
        b = tb > b ? tb : b;
    }
    *mn = a;
    *mx = b;
    return finite;
}

void lb_avx2_codes(const float *w, int64_t len, float s, float z, float maxq, uint8_t *codes) {
    if (lb_reciprocal(s) == 0.0f) { /* reciprocal overflows: the scalar loop divides */
        lb_scalar_codes(w, len, s, z, maxq, codes);
        return;
    }
    __m256 vs = _mm256_set1_ps(lb_reciprocal(s)), vz = _mm256_set1_ps(z), vmax = _mm256_set1_ps(maxq);
    __m256 zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m256 a = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(w + i), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 b = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(w + i + 8), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        a = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(a, vz), zero), vmax);
        b = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(b, vz), zero), vmax);
        __m256i ia = _mm256_cvtps_epi32(a), ib = _mm256_cvtps_epi32(b);
        __m256i p16 = _mm256_permute4x64_epi64(_mm256_packus_epi32(ia, ib), 0xD8); /* 16 x u16 in order */
        __m128i p8 = _mm_packus_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
        _mm_storeu_si128((__m128i *)(codes + i), p8);
    }
    lb_scalar_codes(w + i, len - i, s, z, maxq, codes + i);
}

/* 8 codes (k = 8j .. 8j+7) of a 4-bit word as floats. */
static inline __m256 nibbles(uint32_t word, __m256i shifts, __m256i mask) {
    return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts), mask));
}

float lb_avx2_dot_codes(const float *x, const uint32_t *row, int64_t j0, int64_t len, int32_t bits) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    if (bits == 4 && (j0 & 7) == 0) {
        const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), m = _mm256_set1_epi32(0xF);
        const uint32_t *wp = row + (j0 >> 3);
        for (; i + 32 <= len; i += 32, wp += 4) {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), nibbles(wp[0], sh, m), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), nibbles(wp[1], sh, m), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), nibbles(wp[2], sh, m), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), nibbles(wp[3], sh, m), acc3);
        }
    } else if (bits == 2 && (j0 & 15) == 0) {
        const __m256i lo = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), m = _mm256_set1_epi32(3);
        const __m256i hi = _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
        const uint32_t *wp = row + (j0 >> 4);
        for (; i + 32 <= len; i += 32, wp += 2) {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), nibbles(wp[0], lo, m), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), nibbles(wp[0], hi, m), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), nibbles(wp[1], lo, m), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), nibbles(wp[1], hi, m), acc3);
        }
    } else if (bits == 8 && (j0 & 3) == 0) {
        const uint8_t *bp = (const uint8_t *)row + j0;
        for (; i + 16 <= len; i += 16) {
            __m128i b = _mm_loadu_si128((const __m128i *)(bp + i));
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8),
                                   _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8))), acc1);
        }
    } else { /* 3-bit and unaligned starts: unpack 32 codes at a time, then FMA */
        uint8_t buf[32];
        for (; i + 32 <= len; i += 32) {
            lb_unpack_codes(row, j0 + i, 32, bits, buf);
            for (int t = 0; t < 4; t++) {
                __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(buf + 8 * t))));
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * t), q, acc0);
            }
        }
    }
    float r = lb_hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    if (i < len) r += lb_scalar_dot_codes(x + i, row, j0 + i, len - i, bits);
    return r;
}

void lb_avx2_dequant_run(const uint32_t *row, int64_t j0, int64_t len, int32_t bits, float s, float z, float *w) {
    __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(z);
    int64_t i = 0;
    if (bits == 4 && (j0 & 7) == 0) {
        const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), m = _mm256_set1_epi32(0xF);
        const uint32_t *wp = row + (j0 >> 3);
        for (; i + 8 <= len; i += 8, wp++)
            _mm256_storeu_ps(w + i, _mm256_mul_ps(_mm256_sub_ps(nibbles(*wp, sh, m), vz), vs));
    } else {
        uint8_t buf[32];
        for (; i + 32 <= len; i += 32) {
            lb_unpack_codes(row, j0 + i, 32, bits, buf);
            for (int t = 0; t < 4; t++) {
                __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(buf + 8 * t))));
                _mm256_storeu_ps(w + i + 8 * t, _mm256_mul_ps(_mm256_sub_ps(q, vz), vs));
            }
        }
    }
    lb_scalar_dequant_run(row, j0 + i, len - i, bits, s, z, w + i);
}

/* Register tile: up to 3 rows of x against up to 4 rows of w, 8 lanes at a time. */
void lb_avx2_dot_tile(const float *x, int64_t ldx, int64_t mi, const float *w, int64_t ldw, int64_t nr,
                      int64_t len, float *out, int64_t ldo) {
    int64_t len8 = len & ~(int64_t)7;
    for (int64_t i0 = 0; i0 < mi; i0 += 3) {
        int64_t ib = mi - i0 < 3 ? mi - i0 : 3;
        for (int64_t r0 = 0; r0 < nr; r0 += 4) {
            int64_t rb = nr - r0 < 4 ? nr - r0 : 4;
            __m256 acc[3][4];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 4; b++) acc[a][b] = _mm256_setzero_ps();
            if (ib == 3 && rb == 4) {
                const float *x0 = x + i0 * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx;
                const float *w0 = w + r0 * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
                for (int64_t j = 0; j < len8; j += 8) {
                    __m256 b0 = _mm256_loadu_ps(w0 + j), b1 = _mm256_loadu_ps(w1 + j);
                    __m256 b2 = _mm256_loadu_ps(w2 + j), b3 = _mm256_loadu_ps(w3 + j);
                    __m256 a0 = _mm256_loadu_ps(x0 + j), a1 = _mm256_loadu_ps(x1 + j), a2 = _mm256_loadu_ps(x2 + j);
                    acc[0][0] = _mm256_fmadd_ps(a0, b0, acc[0][0]);
                    acc[0][1] = _mm256_fmadd_ps(a0, b1, acc[0][1]);
                    acc[0][2] = _mm256_fmadd_ps(a0, b2, acc[0][2]);
                    acc[0][3] = _mm256_fmadd_ps(a0, b3, acc[0][3]);
                    acc[1][0] = _mm256_fmadd_ps(a1, b0, acc[1][0]);
                    acc[1][1] = _mm256_fmadd_ps(a1, b1, acc[1][1]);
                    acc[1][2] = _mm256_fmadd_ps(a1, b2, acc[1][2]);
                    acc[1][3] = _mm256_fmadd_ps(a1, b3, acc[1][3]);
                    acc[2][0] = _mm256_fmadd_ps(a2, b0, acc[2][0]);
                    acc[2][1] = _mm256_fmadd_ps(a2, b1, acc[2][1]);
                    acc[2][2] = _mm256_fmadd_ps(a2, b2, acc[2][2]);
                    acc[2][3] = _mm256_fmadd_ps(a2, b3, acc[2][3]);
                }
            } else {
                for (int64_t j = 0; j < len8; j += 8)
                    for (int64_t a = 0; a < ib; a++) {
                        __m256 av = _mm256_loadu_ps(x + (i0 + a) * ldx + j);
                        for (int64_t b = 0; b < rb; b++)
                            acc[a][b] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + (r0 + b) * ldw + j), acc[a][b]);
                    }
            }
            for (int64_t a = 0; a < ib; a++)
                for (int64_t b = 0; b < rb; b++) {
                    float t = lb_hsum256(acc[a][b]);
                    const float *xa = x + (i0 + a) * ldx, *wb = w + (r0 + b) * ldw;
                    for (int64_t j = len8; j < len; j++) t += xa[j] * wb[j];
                    out[(i0 + a) * ldo + r0 + b] += t;
                }
        }
    }
}

int32_t lb_avx2_dot_u8(const uint8_t *a, const uint8_t *b, int64_t len) {
    __m256i acc = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m256i va = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i vb = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(va, vb));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s) + lb_scalar_dot_u8(a + i, b + i, len - i);
}

void lb_avx2_f16_to_f32(const uint16_t *src, int64_t n, float *dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    lb_scalar_f16_to_f32(src + i, n - i, dst + i);
}

/* 8 consecutive codes (from code index j, a multiple of 8) of a packed row, as int32 lanes. */
static inline __attribute__((always_inline)) __m256i codes8(const uint32_t *row, int64_t j, const int bits) {
    if (bits == 4) {
        const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
        return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)row[j >> 3]), sh), _mm256_set1_epi32(0xF));
    }
    if (bits == 2) {
        const __m256i lo = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), hi = _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
        return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)row[j >> 4]), (j & 8) ? hi : lo), _mm256_set1_epi32(3));
    }
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)((const uint8_t *)row + j)));
}

/* x reordered for the nibble-plane GEMV: within each block of 64 inputs, plane i (0..7) holds
 * x[8l + i] * 2^(-4i) for l = 0..7 (plane 7 unscaled). Lane l of (8 packed words & (0xF << 4i))
 * is code * 2^(4i), so the product with plane i is x * code exactly, without shifting the codes
 * down; plane 7 is shifted instead (its masked value would be negative as int32). */
void lb_avx2_permute_x4(const float *x, int64_t k, float *xp) {
    for (int64_t b = 0; b + 64 <= k; b += 64)
        for (int i = 0; i < 8; i++)
            for (int l = 0; l < 8; l++) xp[b + 8 * i + l] = i < 7 ? ldexpf(x[b + 8 * l + i], -4 * i) : x[b + 8 * l + i];
}

/* ROWS rows of the GEMV: per group a vector partial dot per row, scaled into a per-row vector
 * accumulator (one horizontal sum per row at the end); the zero-point term sum_g s z xsum_g is
 * accumulated alongside. 4-bit codes are read 8 words (64 codes) at a time and split into nibble
 * planes by masks against the permuted, pre-scaled x (lb_avx2_permute_x4): no variable shifts or
 * broadcasts, and one shift per 64 codes (shifts are the scarce pipe on Zen 1). */
static inline __attribute__((always_inline)) void gemv_block(const float *x, const float *xsum, const lb_qweight *w,
                                                             int64_t r0, float *out, const int bits, const int rows) {
    const int64_t gs = w->group_size, groups = w->k / gs, wpr = lb_words_per_row(w->k, bits);
    __m256 acc[4];
    float zterm[4];
    for (int r = 0; r < rows; r++) {
        acc[r] = _mm256_setzero_ps();
        zterm[r] = 0.0f;
    }
    for (int64_t g = 0; g < groups; g++) {
        __m256 a[4];
        for (int r = 0; r < rows; r++) a[r] = _mm256_setzero_ps();
        const float *xg = x + g * gs;
        if (bits == 4) {
            for (int64_t j = 0; j < gs; j += 64) {
                __m256i v[4];
                for (int r = 0; r < rows; r++)
                    v[r] = _mm256_loadu_si256((const __m256i *)(w->codes + (r0 + r) * wpr + ((g * gs + j) >> 3)));
#define LB_PLANE(i)                                                                                        \
    {                                                                                                      \
        const __m256 xv = _mm256_loadu_ps(xg + j + 8 * (i));                                               \
        for (int r = 0; r < rows; r++) {                                                                   \
            const __m256i q = (i) < 7 ? _mm256_and_si256(v[r], _mm256_set1_epi32(0xF << (4 * (i))))          \
                                      : _mm256_srli_epi32(v[r], 28);                                       \
            a[r] = _mm256_fmadd_ps(xv, _mm256_cvtepi32_ps(q), a[r]);                                       \
        }                                                                                                  \
    }
                LB_PLANE(0) LB_PLANE(1) LB_PLANE(2) LB_PLANE(3) LB_PLANE(4) LB_PLANE(5) LB_PLANE(6) LB_PLANE(7)
#undef LB_PLANE
            }
        } else {
            for (int64_t j = 0; j < gs; j += 8) {
                const __m256 xv = _mm256_loadu_ps(xg + j);
                for (int r = 0; r < rows; r++)
                    a[r] = _mm256_fmadd_ps(xv, _mm256_cvtepi32_ps(codes8(w->codes + (r0 + r) * wpr, g * gs + j, bits)), a[r]);
            }
        }
        for (int r = 0; r < rows; r++) {
            const float s = lb_load_param(w->scales, w->scale_dtype, (r0 + r) * groups + g);
            const float z = lb_load_param(w->zeros, w->scale_dtype, (r0 + r) * groups + g);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(s), a[r], acc[r]);
            zterm[r] += s * z * xsum[g];
        }
    }
    for (int r = 0; r < rows; r++) out[r] = lb_hsum256(acc[r]) - zterm[r];
}

int lb_avx2_gemv_supported(const lb_qweight *w) {
    if (w->bits == 4) return w->group_size % 64 == 0;
    return (w->bits == 2 || w->bits == 8) && w->group_size % 16 == 0;
}

void lb_avx2_gemv_rows(const float *x, const float *xsum, const lb_qweight *w, int64_t r0, int64_t nr, float *out) {
    int64_t r = 0;
    switch (w->bits) {
    case 2:
        for (; r + 4 <= nr; r += 4) gemv_block(x, xsum, w, r0 + r, out + r, 2, 4);
        for (; r < nr; r++) gemv_block(x, xsum, w, r0 + r, out + r, 2, 1);
        break;
    case 4:
        for (; r + 4 <= nr; r += 4) gemv_block(x, xsum, w, r0 + r, out + r, 4, 4);
        for (; r < nr; r++) gemv_block(x, xsum, w, r0 + r, out + r, 4, 1);
        break;
    default:
        for (; r + 4 <= nr; r += 4) gemv_block(x, xsum, w, r0 + r, out + r, 8, 4);
        for (; r < nr; r++) gemv_block(x, xsum, w, r0 + r, out + r, 8, 1);
        break;
    }
}

/* Activation codes reordered for the W4A8 GEMV: within each block of 64, the 32 codes at even
 * positions, then the 32 at odd ones, matching the low and high nibbles of 32 packed bytes. */
void lb_avx2_split_even_odd(const uint8_t *a, int64_t k, uint8_t *out) {
    for (int64_t b = 0; b + 64 <= k; b += 64)
        for (int t = 0; t < 32; t++) {
            out[b + t] = a[b + 2 * t];
            out[b + 32 + t] = a[b + 2 * t + 1];
        }
}

/* ROWS weight rows x ACTS activation rows of the W4A8 GEMM, STEP (64 or 128) columns at a time;
 * F16: fp16 scales and zeros. Per group, in 8 int32 lanes: dot = sum qa * qw (a maddubs of u8
 * activations and 4-bit weights cannot saturate, 2 * 255 * 15 < 2^15, nor can four of them added,
 * 8 * 255 * 15 < 2^15); then lb_w4a8_group centres, scales and accumulates the lanes in fp32.
 * out[a][r] = sa sum_g s_g sum_lanes t. */
static inline __attribute__((always_inline)) void w4a8_tile(const uint8_t *ap, int64_t k, const float *lanes, int64_t groups,
                                                            const float *sa, const float *za, const lb_qweight *w,
                                                            const int32_t *wsums, int64_t r0, float *out, int64_t ldo,
                                                            const int rows, const int acts, const int step, const int f16) {
    const int64_t gs = w->group_size, wpr = lb_words_per_row(w->k, 4);
    const __m256i nib = _mm256_set1_epi8(0x0F), ones16 = _mm256_set1_epi16(1);
    __m256 accf[2][4];
    for (int r = 0; r < rows; r++)
        for (int a = 0; a < acts; a++) accf[r][a] = _mm256_setzero_ps();
    const uint8_t *next[2];
    for (int r = 0; r < rows; r++) next[r] = lb_w4a8_next_row(w, r0 + r, rows);
    for (int64_t g = 0; g < groups; g++) {
        __m256i dot[2][4];
        for (int r = 0; r < rows; r++)
            for (int a = 0; a < acts; a++) dot[r][a] = _mm256_setzero_si256();
        for (int64_t j = g * gs; j < (g + 1) * gs; j += step) {
            /* one activation row: its codes loaded once for all weight rows; else one weight row
             * unpacked once for all activation rows */
            __m256i x[4], lo[2], hi[2];
            if (acts == 1)
                for (int h = 0; h < step / 32; h++) x[h] = _mm256_loadu_si256((const __m256i *)(ap + j) + h);
            for (int r = 0; r < rows; r++) {
                for (int h = 0; h < step / 64; h++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)((const uint8_t *)(w->codes + (r0 + r) * wpr) + j / 2) + h);
                    _mm_prefetch((const char *)(next[r] + j / 2 + 32 * h), _MM_HINT_T0);
                    lo[h] = _mm256_and_si256(v, nib);
                    hi[h] = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
                }
                for (int a = 0; a < acts; a++) {
                    if (acts > 1)
                        for (int h = 0; h < step / 32; h++) x[h] = _mm256_loadu_si256((const __m256i *)(ap + a * k + j) + h);
                    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(x[0], lo[0]), _mm256_maddubs_epi16(x[1], hi[0]));
                    if (step == 128)
                        p = _mm256_add_epi16(p, _mm256_add_epi16(_mm256_maddubs_epi16(x[2], lo[1]), _mm256_maddubs_epi16(x[3], hi[1])));
                    dot[r][a] = _mm256_add_epi32(dot[r][a], _mm256_madd_epi16(p, ones16));
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            const int64_t at = (r0 + r) * groups + g;
            const float s = lb_w4a8_param(w->scales, at, f16), zw = lb_w4a8_param(w->zeros, at, f16);
            for (int a = 0; a < acts; a++) accf[r][a] = lb_w4a8_group(dot[r][a], lanes + (a * groups + g) * 8, za[a], wsums[at], s, zw, accf[r][a]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int a = 0; a < acts; a++) out[a * ldo + r] = sa[a] * lb_hsum256(accf[r][a]);
}

/* All tiles of weight rows [r0, r0 + nr) against m activation rows: pairs of weight rows for a
 * single activation row (M = 1), else single weight rows against up to 4 activation rows, so the
 * weight row is read once per 4 activation rows. */
#define W4A8_TILES(step, f16)                                                                                              \
    do {                                                                                                              \
        if (m == 1) {                                                                                                 \
            int64_t r = 0;                                                                                            \
            for (; r + 2 <= nr; r += 2) w4a8_tile(a_split, k, lanes, groups, sa, za, w, wsums, r0 + r, y + r0 + r, n, 2, 1, step, f16); \
            for (; r < nr; r++) w4a8_tile(a_split, k, lanes, groups, sa, za, w, wsums, r0 + r, y + r0 + r, n, 1, 1, step, f16);        \
            break;                                                                                                    \
        }                                                                                                             \
        for (int64_t r = r0; r < r0 + nr; r++) {                                                                      \
            int64_t i = 0;                                                                                            \
            for (; i + 4 <= m; i += 4)                                                                                \
                w4a8_tile(a_split + i * k, k, lanes + i * groups * 8, groups, sa + i, za + i, w, wsums, r, y + i * n + r, n, 1, 4, step, f16); \
            for (; i < m; i++)                                                                                        \
                w4a8_tile(a_split + i * k, k, lanes + i * groups * 8, groups, sa + i, za + i, w, wsums, r, y + i * n + r, n, 1, 1, step, f16); \
        }                                                                                                             \
    } while (0)

void lb_avx2_w4a8_rows(const uint8_t *a_split, int64_t m, const float *lanes, const float *sa, const float *za, const lb_qweight *w,
                       const int32_t *wsums, int64_t r0, int64_t nr, float *y) {
    const int64_t k = w->k, n = w->n, groups = k / w->group_size;
    const int f16 = w->scale_dtype == LB_DTYPE_F16;
    if (w->group_size % 128 == 0) {
        if (f16) W4A8_TILES(128, 1);
        else W4A8_TILES(128, 0);
    } else {
        if (f16) W4A8_TILES(64, 1);
        else W4A8_TILES(64, 0);
    }
}

/* Per group, the sum of one row's 4-bit codes (groups a multiple of 64). */
void lb_avx2_code_sums4(const uint32_t *row, int64_t k, int64_t gs, int32_t *sums) {
    const __m256i nib = _mm256_set1_epi8(0x0F), zero = _mm256_setzero_si256();
    for (int64_t g = 0; g < k / gs; g++) {
        __m256i acc = zero;
        for (int64_t j = g * gs; j < (g + 1) * gs; j += 64) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)((const uint8_t *)row + j / 2));
            const __m256i both = _mm256_add_epi8(_mm256_and_si256(v, nib), _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(both, zero));
        }
        const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        sums[g] = (int32_t)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
    }
}

/* Per group, the sums of (qa - za) over the split activation codes that meet in each int32 lane of
 * the W4A8 dot products: lane l takes bytes 4l..4l+3 of every 32-byte vector; out [k / gs][8]. */
void lb_avx2_lane_sums(const uint8_t *a_split, int64_t k, int64_t gs, float za, float *out) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const __m256i centre = _mm256_set1_epi32((int32_t)za * (int32_t)(gs / 8));
    for (int64_t g = 0; g < k / gs; g++) {
        __m256i acc = _mm256_setzero_si256();
        for (int64_t j = g * gs; j < (g + 1) * gs; j += 32)
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(a_split + j)), ones8), ones16));
        _mm256_storeu_ps(out + g * 8, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, centre)));
    }
}
