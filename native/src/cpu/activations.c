/* Per-token activation quantization and the integer GEMM of quantized activations with
 * 4- or 8-bit weights (W4A8 / W8A8; W4A4 runs the same kernel with 4-bit codes). */
#include "dispatch.h"

#include <stdlib.h>

lb_status lb_cpu_quantize_activations(const float *x, int64_t m, int64_t k, int32_t bits, uint8_t *codes,
                                      float *scales, float *zeros) {
    if (!x || !codes || !scales || !zeros) return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_activations: NULL buffer");
    if (m <= 0 || k <= 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_activations: shape [%lld, %lld] must be positive", (long long)m, (long long)k);
    if (bits != 4 && bits != 8)
        return lb_fail(LB_ERR_UNSUPPORTED, "quantize_activations: %d-bit activations are not supported (use 4 or 8)", (int)bits);
    const float maxq = (float)((1 << bits) - 1);
    int64_t bad = -1;
    for (int64_t i = 0; i < m && bad < 0; i++) {
        float lo, hi;
        if (!LB_DISPATCH(minmax, x + i * k, k, &lo, &hi)) bad = i;
    }
    if (bad >= 0) return lb_fail(LB_ERR_NON_FINITE, "quantize_activations: NaN or Inf in row %lld", (long long)bad);
#pragma omp parallel for schedule(static) if (m * k > LB_OMP_MIN_WORK)
    for (int64_t i = 0; i < m; i++) {
        const float *xr = x + i * k;
        float lo, hi;
        LB_DISPATCH(minmax, xr, k, &lo, &hi);
        lo = lo < 0.0f ? lo : 0.0f;
        hi = hi > 0.0f ? hi : 0.0f;
        float s = (float)(((double)hi - (double)lo) / (double)maxq);
        if (s == 0.0f) s = 1.0f;
        float z = rintf(-lo / s);
        z = z < 0.0f ? 0.0f : (z > maxq ? maxq : z);
        scales[i] = s;
        zeros[i] = z;
        LB_DISPATCH(codes, xr, k, s, z, maxq, codes + i * k);
    }
    return LB_OK;
}

/* Longest run whose u8 x u8 products surely fit an int32 sum (255 * 255 * 32768 < 2^31). */
#define INT_DOT_CHUNK 32768

static int64_t dot_u8_long(const uint8_t *a, const uint8_t *b, int64_t len) {
    int64_t acc = 0;
    for (int64_t j = 0; j < len; j += INT_DOT_CHUNK)
        acc += LB_DISPATCH(dot_u8, a + j, b + j, len - j < INT_DOT_CHUNK ? len - j : INT_DOT_CHUNK);
    return acc;
}

static int64_t sum_u8(const uint8_t *a, int64_t len) {
    int64_t acc = 0;
    for (int64_t j = 0; j < len; j++) acc += a[j];
    return acc;
}

/* Per row and group, the sum of the weight codes (4-bit, groups a multiple of 64: AVX2). */
static void code_sums(const lb_qweight *w, int32_t *sums) {
    const int64_t k = w->k, gs = w->group_size, groups = k / gs, wpr = lb_words_per_row(k, w->bits);
#pragma omp parallel for schedule(static) if (w->n * k > LB_OMP_MIN_WORK)
    for (int64_t r = 0; r < w->n; r++) {
#ifdef LB_HAVE_AVX2
        if (lb_simd_active >= LB_SIMD_AVX2 && w->bits == 4 && gs % 64 == 0) {
            lb_avx2_code_sums4(w->codes + r * wpr, k, gs, sums + r * groups);
            continue;
        }
#endif
        uint8_t chunk[256];
        for (int64_t g = 0; g < groups; g++) {
            int64_t acc = 0;
            for (int64_t j = g * gs; j < (g + 1) * gs; j += 256) {
                const int64_t len = (g + 1) * gs - j < 256 ? (g + 1) * gs - j : 256;
                lb_unpack_codes(w->codes + r * wpr, j, len, w->bits, chunk);
                acc += sum_u8(chunk, len);
            }
            sums[r * groups + g] = (int32_t)acc;
        }
    }
}

lb_status lb_cpu_weight_code_sums(const lb_qweight *w, int32_t *sums) {
    lb_status st = lb_check_qweight(w, "weight_code_sums", 1);
    if (st) return st;
    if (!sums) return lb_fail(LB_ERR_INVALID_ARGUMENT, "weight_code_sums: NULL buffer");
    code_sums(w, sums);
    return LB_OK;
}

#ifdef LB_HAVE_AVX2
#define W4A8_BLOCK_ROWS 64 /* weight rows per OpenMP work item */
#define W4A8_MAX_GROUP (1 << 15) /* a group's lane sums stay exact in fp32 (below 2^24) */

/* The AVX2 path: each weight row read once per 4 activation rows; returns 1 when out of memory. */
static int w4a8_gemm(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m, const lb_qweight *w,
                     const int32_t *w_sums, const float *bias, float *y) {
    const int64_t n = w->n, k = w->k, gs = w->group_size, groups = k / gs;
    int32_t *own_sums = w_sums ? NULL : malloc((size_t)(n * groups) * sizeof(int32_t));
    if (!w_sums && !own_sums) return 1;
    if (!w_sums) code_sums(w, own_sums);
    const int32_t *sums = w_sums ? w_sums : own_sums;
#ifdef LB_HAVE_AVX512
    if (lb_simd_active >= LB_SIMD_AVX512 && m >= LB_W4A8_BLOCKED_MIN_M && lb_avx512_w4a8_blocked_supported(w, sums, a_zeros, m)) {
        const int nomem = lb_avx512_w4a8_gemm_blocked(a_codes, m, a_scales, a_zeros, w, sums, bias, y);
        free(own_sums);
        return nomem;
    }
#endif
    uint8_t *split = malloc((size_t)(m * k));
    float *lanes = malloc((size_t)(m * groups * 8) * sizeof(float));
    if (!split || !lanes) {
        free(split);
        free(lanes);
        free(own_sums);
        return 1;
    }
    /* the AVX-512 kernel where it runs, with its own activation split; same results either way */
    void (*split_codes)(const uint8_t *, int64_t, uint8_t *) = lb_avx2_split_even_odd;
    void (*rows)(const uint8_t *, int64_t, const float *, const float *, const float *, const lb_qweight *, const int32_t *, int64_t,
                 int64_t, float *) = lb_avx2_w4a8_rows;
#ifdef LB_HAVE_AVX512
    if (lb_simd_active >= LB_SIMD_AVX512 && lb_avx512_w4a8_supported(w)) {
        split_codes = lb_avx512_split_even_odd;
        rows = lb_avx512_w4a8_rows;
    }
#endif
    for (int64_t i = 0; i < m; i++) {
        split_codes(a_codes + i * k, k, split + i * k);
        lb_avx2_lane_sums(split + i * k, k, gs, a_zeros[i], lanes + i * groups * 8);
    }
    const int64_t blocks = (n + W4A8_BLOCK_ROWS - 1) / W4A8_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (m * n * k > LB_OMP_MIN_WORK)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t r0 = b * W4A8_BLOCK_ROWS, nr = n - r0 < W4A8_BLOCK_ROWS ? n - r0 : W4A8_BLOCK_ROWS;
        rows(split, m, lanes, a_scales, a_zeros, w, sums, r0, nr, y);
        if (bias)
            for (int64_t i = 0; i < m; i++)
                for (int64_t r = r0; r < r0 + nr; r++) y[i * n + r] += bias[r];
    }
    free(split);
    free(lanes);
    free(own_sums);
    return 0;
}
#endif

lb_status lb_cpu_int_gemm(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m,
                          const lb_qweight *w, const int32_t *w_sums, const float *bias, float *y) {
    lb_status st = lb_check_qweight(w, "int_gemm", 1);
    if (st) return st;
    if (w->bits != 4 && w->bits != 8)
        return lb_fail(LB_ERR_UNSUPPORTED, "int_gemm: %d-bit weights have no integer kernel (use 4 or 8)", (int)w->bits);
    if (!a_codes || !a_scales || !a_zeros || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "int_gemm: NULL buffer");
    if (m <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "int_gemm: m must be positive, got %lld", (long long)m);
    const int64_t n = w->n, k = w->k, gs = w->group_size, groups = k / gs, wpr = lb_words_per_row(k, w->bits);
    for (int64_t i = 0; i < m; i++)
        if (!(a_scales[i] > 0.0f) || !isfinite(a_scales[i]) || !isfinite(a_zeros[i]))
            return lb_fail(LB_ERR_INVALID_ARGUMENT, "int_gemm: activation row %lld has scale %g, zero %g", (long long)i,
                           (double)a_scales[i], (double)a_zeros[i]);
#ifdef LB_HAVE_AVX2
    if (lb_simd_active >= LB_SIMD_AVX2 && w->bits == 4 && gs % 64 == 0 && gs <= W4A8_MAX_GROUP)
        return w4a8_gemm(a_codes, a_scales, a_zeros, m, w, w_sums, bias, y) ? lb_fail(LB_ERR_OUT_OF_MEMORY, "int_gemm: out of memory")
                                                                            : LB_OK;
#endif
    int64_t *asum = malloc((size_t)(m * groups) * sizeof(int64_t));
    if (!asum) return lb_fail(LB_ERR_OUT_OF_MEMORY, "int_gemm: out of memory");
    for (int64_t i = 0; i < m; i++)
        for (int64_t g = 0; g < groups; g++) asum[i * groups + g] = sum_u8(a_codes + i * k + g * gs, gs);
    int nomem = 0;
#pragma omp parallel if (m * n * k > LB_OMP_MIN_WORK)
    {
        uint8_t *wrow = malloc((size_t)k);
        double *acc = malloc((size_t)m * sizeof(double));
        if (!wrow || !acc) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n; r++) {
            if (!wrow || !acc) continue;
            lb_unpack_codes(w->codes + r * wpr, 0, k, w->bits, wrow);
            for (int64_t i = 0; i < m; i++) acc[i] = bias ? (double)bias[r] : 0.0;
            for (int64_t g = 0; g < groups; g++) {
                const int64_t wsum = sum_u8(wrow + g * gs, gs);
                const double sw = lb_load_param(w->scales, w->scale_dtype, r * groups + g);
                const int64_t zw = (int64_t)lb_load_param(w->zeros, w->scale_dtype, r * groups + g);
                for (int64_t i = 0; i < m; i++) {
                    const int64_t za = (int64_t)a_zeros[i];
                    /* sum (qa - za)(qw - zw) = sum qa qw - zw sum qa - za sum qw + gs za zw, exactly */
                    int64_t dot = dot_u8_long(a_codes + i * k + g * gs, wrow + g * gs, gs) - zw * asum[i * groups + g]
                                  - za * wsum + gs * za * zw;
                    acc[i] += sw * (double)a_scales[i] * (double)dot;
                }
            }
            for (int64_t i = 0; i < m; i++) y[i * n + r] = (float)acc[i];
        }
        free(wrow);
        free(acc);
    }
    free(asum);
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "int_gemm: out of memory for a %lld-byte row buffer", (long long)k);
    return LB_OK;
}
