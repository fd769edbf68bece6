/* The W4A8 GEMM at large M on AVX-512 VNNI, blocked as the best CPU GEMMs are: activation rows
 * packed in pairs into panels that stay in L2, each weight row decoded once per column block into
 * signed bytes (q - z) in L1, and a micro-kernel of 4 weight rows x 2 activation pairs whose 16
 * accumulators stay in registers. Compiled with the AVX-512 flags, called only at that level.
 *
 * Bit-identical to lb_avx2_w4a8_rows (and so to the AVX-512 small-M kernel) at every M: each zmm
 * holds the 8 int32 lanes of two activation rows for one weight row, lane l summing the products of
 * the columns with (j mod 64) / 8 == l, as theirs. Per group their fp32 step computes
 *   t = dot - (za / 8) wsum - zw lanes,
 * here t = dot' - (za / 8) (wsum - zw gs) with dot' the lane's sum of qa (qw - zw): the same value,
 * and an exact one in both (every term a multiple of 1/8 below 2^21 for groups up to 2048, so no
 * fused step rounds), after which both do acc = s t + acc and the same horizontal sum. It needs
 * integer zero points (activations in [0, 255], weights in [0, 15]), which lb_avx512_w4a8_blocked_
 * supported checks; other inputs take the kernel of lb_avx2_w4a8_rows. */
#include "common.h"
#include "kernels_simd.h"
#include "w4a8_common.h"

#include <immintrin.h>
#include <stdlib.h>

#define ROWS 4                   /* weight rows per micro-kernel */
#define UNIT_ROWS 16             /* weight rows per work item (one thread's accumulators) */
#define ACT_PANEL_BYTES (1 << 19) /* packed activation columns kept in L2 per column block */
#define MAX_GROUP 2048           /* above, the fp32 terms of a group may round */
#ifndef M_BLOCK
#define M_BLOCK 256 /* tokens per pass over the weights: their accumulators (16 rows x M_BLOCK / 2 zmm) stay in L2 */
#endif

static inline __attribute__((always_inline)) float param(const void *p, int64_t at, int f16) {
    return f16 ? _cvtsh_ss(((const uint16_t *)p)[at]) : ((const float *)p)[at];
}

/* [lo | hi] (AVX-512F only: the 32-bit-lane insert is AVX-512DQ's). */
static inline __m512 halves(__m256 lo, __m256 hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

int lb_avx512_w4a8_blocked_supported(const lb_qweight *w, const int32_t *wsums, const float *za, int64_t m) {
    const int64_t gs = w->group_size, cells = w->n * (w->k / gs);
    if (w->bits != 4 || gs % 64 != 0 || gs > MAX_GROUP) return 0;
    for (int64_t i = 0; i < m; i++)
        if (!(za[i] >= 0.0f && za[i] <= 255.0f && za[i] == rintf(za[i]))) return 0;
    const int f16 = w->scale_dtype == LB_DTYPE_F16;
    for (int64_t c = 0; c < cells; c++) {
        const float z = param(w->zeros, c, f16);
        if (!(z >= 0.0f && z <= 15.0f && z == rintf(z)) || wsums[c] < 0 || wsums[c] > 15 * gs) return 0;
    }
    return 1;
}

/* Activation rows 2p and 2p + 1 (zeros past m) per 64 columns: the 32 even columns of each, then the
 * 32 odd ones, [pair][k / 64][even 2 x 32 | odd 2 x 32]; byte t of a half meets weight byte t. */
static void pack_pairs(const uint8_t *a, int64_t m, int64_t k, uint8_t *out) {
    const int64_t pairs = (m + 1) / 2;
    const __m512i low = _mm512_set1_epi16(0x00FF);
#pragma omp parallel for schedule(static) if (m * k > LB_OMP_MIN_WORK)
    for (int64_t p = 0; p < pairs; p++)
        for (int h = 0; h < 2; h++) {
            const uint8_t *row = a + (2 * p + h) * k;
            uint8_t *dst = out + p * 2 * k + 32 * h;
            for (int64_t c = 0; c < k / 64; c++, dst += 128) {
                const __m512i v = 2 * p + h < m ? _mm512_loadu_si512(row + 64 * c) : _mm512_setzero_si512();
                _mm256_storeu_si256((__m256i *)dst, _mm512_cvtepi16_epi8(_mm512_and_si512(v, low)));
                _mm256_storeu_si256((__m256i *)(dst + 64), _mm512_cvtepi16_epi8(_mm512_srli_epi16(v, 8)));
            }
        }
}

/* Weight rows r0.. (rows of them) over columns [k0, k0 + klen): per 64 columns and row the low and
 * high nibbles of its 32 code bytes minus the group's zero point, [k / 64][rows][lo 32 | hi 32];
 * per row and group of the block its scale and (float)(wsum - zw gs), [rows][groups]. */
static void decode_panel(const lb_qweight *w, const int32_t *wsums, int64_t r0, int rows, int64_t k0, int64_t klen,
                         uint8_t *panel, float *scales, float *wprime) {
    const int64_t gs = w->group_size, groups = w->k / gs, bg = klen / gs, wpr = lb_words_per_row(w->k, 4);
    const int f16 = w->scale_dtype == LB_DTYPE_F16;
    const __m256i nib = _mm256_set1_epi8(0x0F);
    for (int r = 0; r < rows; r++) {
        const uint8_t *codes = (const uint8_t *)(w->codes + (r0 + r) * wpr);
        for (int64_t gl = 0; gl < bg; gl++) {
            const int64_t at = (r0 + r) * groups + k0 / gs + gl;
            const float zw = param(w->zeros, at, f16);
            scales[r * bg + gl] = param(w->scales, at, f16);
            wprime[r * bg + gl] = (float)(wsums[at] - (int32_t)zw * gs);
            const __m256i z = _mm256_set1_epi8((char)(int)zw);
            for (int64_t j = gl * gs; j < (gl + 1) * gs; j += 64) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(codes + (k0 + j) / 2));
                uint8_t *dst = panel + ((j / 64) * rows + r) * 64;
                _mm256_storeu_si256((__m256i *)dst, _mm256_sub_epi8(_mm256_and_si256(v, nib), z));
                _mm256_storeu_si256((__m256i *)(dst + 32), _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), nib), z));
            }
        }
    }
}

/* RS weight rows x PS activation pairs over one column block: acc[r * ldacc + p] (16 floats: the 8
 * lanes of rows 2p, 2p + 1) updated group by group in order. */
static inline __attribute__((always_inline)) void tile(const uint8_t *panel, const uint8_t *act, int64_t act_stride,
                                                       int64_t bg, int64_t steps, const float *scales, const float *wprime,
                                                       const __m512 *za8, __m512 *acc, int64_t ldacc, const int RS,
                                                       const int PS) {
    __m512 f[ROWS][2];
    for (int r = 0; r < RS; r++)
        for (int p = 0; p < PS; p++) f[r][p] = acc[r * ldacc + p];
    for (int64_t gl = 0; gl < bg; gl++) {
        __m512i d[ROWS][2];
        for (int r = 0; r < RS; r++)
            for (int p = 0; p < PS; p++) d[r][p] = _mm512_setzero_si512();
        for (int64_t c = gl * steps; c < (gl + 1) * steps; c++) {
            __m512i ev[2], od[2];
            for (int p = 0; p < PS; p++) {
                ev[p] = _mm512_loadu_si512(act + p * act_stride + 128 * c);
                od[p] = _mm512_loadu_si512(act + p * act_stride + 128 * c + 64);
            }
            for (int r = 0; r < RS; r++) {
                const uint8_t *wr = panel + (c * RS + r) * 64;
                const __m512i lo = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)wr));
                const __m512i hi = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wr + 32)));
                for (int p = 0; p < PS; p++) d[r][p] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(d[r][p], ev[p], lo), od[p], hi);
            }
        }
        for (int r = 0; r < RS; r++) {
            const __m512 s = _mm512_set1_ps(scales[r * bg + gl]), wp = _mm512_set1_ps(wprime[r * bg + gl]);
            for (int p = 0; p < PS; p++) f[r][p] = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(za8[p], wp, _mm512_cvtepi32_ps(d[r][p])), f[r][p]);
        }
    }
    for (int r = 0; r < RS; r++)
        for (int p = 0; p < PS; p++) acc[r * ldacc + p] = f[r][p];
}

/* acc + the products of a's unsigned and b's signed bytes (vpdpbusd) through inline assembly: with the
 * intrinsic GCC 12 copies the accumulator between registers around every instruction and spills. */
static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/* The full tile (4 rows x 2 pairs) with its accumulators named one by one: as arrays GCC spills them
 * and copies between registers around every vpdpbusd. */
static void tile42(const uint8_t *panel, const uint8_t *act, int64_t act_stride, int64_t bg, int64_t steps, const float *scales,
                   const float *wprime, const __m512 *za8, __m512 *acc, int64_t ldacc) {
    __m512 f00 = acc[0], f01 = acc[1], f10 = acc[ldacc], f11 = acc[ldacc + 1];
    __m512 f20 = acc[2 * ldacc], f21 = acc[2 * ldacc + 1], f30 = acc[3 * ldacc], f31 = acc[3 * ldacc + 1];
    const uint8_t *a0 = act, *a1 = act + act_stride;
    for (int64_t gl = 0; gl < bg; gl++) {
        __m512i d00 = _mm512_setzero_si512(), d01 = d00, d10 = d00, d11 = d00, d20 = d00, d21 = d00, d30 = d00, d31 = d00;
        for (int64_t c = gl * steps; c < (gl + 1) * steps; c++) {
            const __m512i e0 = _mm512_loadu_si512(a0 + 128 * c), o0 = _mm512_loadu_si512(a0 + 128 * c + 64);
            const __m512i e1 = _mm512_loadu_si512(a1 + 128 * c), o1 = _mm512_loadu_si512(a1 + 128 * c + 64);
            const uint8_t *wr = panel + c * ROWS * 64;
#define LB_ROW(r, d0, d1)                                                                               \
    {                                                                                                   \
        const __m512i lo = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wr + 64 * (r))));      \
        const __m512i hi = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wr + 64 * (r) + 32))); \
        d0 = dpbusd(dpbusd(d0, e0, lo), o0, hi);                              \
        d1 = dpbusd(dpbusd(d1, e1, lo), o1, hi);                              \
    }
            LB_ROW(0, d00, d01) LB_ROW(1, d10, d11) LB_ROW(2, d20, d21) LB_ROW(3, d30, d31)
#undef LB_ROW
        }
#define LB_GROUP(r, d0, d1, f0, f1)                                                                     \
    {                                                                                                   \
        const __m512 s = _mm512_set1_ps(scales[(r) * bg + gl]), wp = _mm512_set1_ps(wprime[(r) * bg + gl]); \
        f0 = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(za8[0], wp, _mm512_cvtepi32_ps(d0)), f0);                \
        f1 = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(za8[1], wp, _mm512_cvtepi32_ps(d1)), f1);                \
    }
        LB_GROUP(0, d00, d01, f00, f01) LB_GROUP(1, d10, d11, f10, f11) LB_GROUP(2, d20, d21, f20, f21) LB_GROUP(3, d30, d31, f30, f31)
#undef LB_GROUP
    }
    acc[0] = f00, acc[1] = f01, acc[ldacc] = f10, acc[ldacc + 1] = f11;
    acc[2 * ldacc] = f20, acc[2 * ldacc + 1] = f21, acc[3 * ldacc] = f30, acc[3 * ldacc + 1] = f31;
}

#define TILE(RS, PS) tile(panel, act, act_stride, bg, steps, scales, wprime, za8, acc, ldacc, RS, PS)

static void tile_any(int rs, int ps, const uint8_t *panel, const uint8_t *act, int64_t act_stride, int64_t bg, int64_t steps,
                     const float *scales, const float *wprime, const __m512 *za8, __m512 *acc, int64_t ldacc) {
    switch ((rs - 1) * 2 + ps - 1) {
    case 7: tile42(panel, act, act_stride, bg, steps, scales, wprime, za8, acc, ldacc); break;
    case 6: TILE(4, 1); break;
    case 5: TILE(3, 2); break;
    case 4: TILE(3, 1); break;
    case 3: TILE(2, 2); break;
    case 2: TILE(2, 1); break;
    case 1: TILE(1, 2); break;
    default: TILE(1, 1); break;
    }
}

/* Tokens [0, m) of one M block: the activation panels, then every weight row panel against them. */
static int gemm_block(const uint8_t *a_codes, int64_t m, const float *sa, const float *za, const lb_qweight *w,
                      const int32_t *wsums, const float *bias, float *y) {
    const int64_t n = w->n, k = w->k, gs = w->group_size, pairs = (m + 1) / 2;
    int64_t kc = (ACT_PANEL_BYTES / m) / gs * gs; /* columns per block: m kc bytes of packed activations */
    if (kc < gs) kc = gs;
    if (kc > k) kc = k;
    uint8_t *act = malloc((size_t)(pairs * 2 * k));
    __m512 *za8 = _mm_malloc((size_t)pairs * sizeof(__m512), 64);
    if (!act || !za8) {
        free(act);
        _mm_free(za8);
        return 1;
    }
    pack_pairs(a_codes, m, k, act);
    for (int64_t p = 0; p < pairs; p++)
        za8[p] = halves(_mm256_set1_ps(za[2 * p] * 0.125f), _mm256_set1_ps(2 * p + 1 < m ? za[2 * p + 1] * 0.125f : 0.0f));
    const int64_t units = (n + UNIT_ROWS - 1) / UNIT_ROWS;
    int nomem = 0;
#pragma omp parallel if (m * n * k > LB_OMP_MIN_WORK)
    {
        uint8_t *panel = _mm_malloc((size_t)(ROWS * kc), 64);
        float *scales = malloc((size_t)(2 * ROWS * (kc / gs)) * sizeof(float));
        __m512 *accs = _mm_malloc((size_t)(UNIT_ROWS * pairs) * sizeof(__m512), 64);
        if (!panel || !scales || !accs) {
#pragma omp atomic write
            nomem = 1;
        }
        float *wprime = scales ? scales + ROWS * (kc / gs) : NULL;
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            if (!panel || !scales || !accs) continue;
            const int64_t n0 = u * UNIT_ROWS, urows = n - n0 < UNIT_ROWS ? n - n0 : UNIT_ROWS;
            for (int64_t i = 0; i < urows * pairs; i++) accs[i] = _mm512_setzero_ps();
            for (int64_t k0 = 0; k0 < k; k0 += kc) {
                const int64_t klen = k - k0 < kc ? k - k0 : kc, bg = klen / gs;
                for (int64_t rb = 0; rb < urows; rb += ROWS) {
                    const int rs = urows - rb < ROWS ? (int)(urows - rb) : ROWS;
                    decode_panel(w, wsums, n0 + rb, rs, k0, klen, panel, scales, wprime);
                    for (int64_t p = 0; p < pairs; p += 2)
                        tile_any(rs, pairs - p < 2 ? 1 : 2, panel, act + p * 2 * k + k0 * 2, 2 * k, bg, gs / 64, scales, wprime,
                                 za8 + p, accs + rb * pairs + p, pairs);
                }
            }
            /* token by token, so each writes its unit's run of y; y = sa sum, then + bias, as the per-token kernel */
            for (int64_t i = 0; i < m; i++) {
                const int64_t p = i / 2;
                for (int64_t r = 0; r < urows; r++) {
                    const __m512d f = _mm512_castps_pd(accs[r * pairs + p]);
                    float v = sa[i] * lb_hsum256(_mm256_castpd_ps(i % 2 ? _mm512_extractf64x4_pd(f, 1) : _mm512_castpd512_pd256(f)));
                    if (bias) v += bias[n0 + r];
                    y[i * n + n0 + r] = v;
                }
            }
        }
        _mm_free(panel);
        free(scales);
        _mm_free(accs);
    }
    free(act);
    _mm_free(za8);
    return nomem;
}

/* Each M_BLOCK of tokens is a GEMM of its own: past it, one unit's accumulators and the activation
 * panel no longer fit in L2 together. A token's sums run over the same groups in the same order in
 * every block, so its bits do not depend on M. */
int lb_avx512_w4a8_gemm_blocked(const uint8_t *a_codes, int64_t m, const float *sa, const float *za, const lb_qweight *w,
                                const int32_t *wsums, const float *bias, float *y) {
    for (int64_t i0 = 0; i0 < m; i0 += M_BLOCK) {
        const int64_t mb = m - i0 < M_BLOCK ? m - i0 : M_BLOCK;
        if (gemm_block(a_codes + i0 * w->k, mb, sa + i0, za + i0, w, wsums, bias, y + i0 * w->n)) return 1;
    }
    return 0;
}
