/* Fused dequant-GEMM: y = x . dequant(W)^T + bias without materialising W. */
#include "dispatch.h"

#include <stdlib.h>

#define TILE_ROWS 4        /* weight rows dequantized together on the M > 1 path */
#define X_BLOCK_BYTES 65536 /* x panel kept hot in L2 while weight tiles stream past */

/* fp32 view of x: the input itself, or a converted copy the caller frees. */
static const float *x_as_f32(const void *x, int32_t dtype, int64_t count, float **owned) {
    *owned = NULL;
    if (dtype == LB_DTYPE_F32) return x;
    float *f = malloc((size_t)count * sizeof(float));
    if (!f) return NULL;
    if (dtype == LB_DTYPE_F16) {
        LB_DISPATCH(f16_to_f32, x, count, f);
    } else { /* bf16: the high half of an fp32 */
        const uint16_t *b = x;
        for (int64_t i = 0; i < count; i++) {
            uint32_t bits = (uint32_t)b[i] << 16;
            memcpy(f + i, &bits, 4);
        }
    }
    *owned = f;
    return f;
}

#define GEMV_BLOCK_ROWS 64 /* rows per OpenMP work item on the blocked AVX2 path */

static void gemv(const float *x, const lb_qweight *w, const float *bias, float *y, const float *xsum, int *nomem) {
    const int64_t n = w->n, gs = w->group_size, groups = w->k / gs, wpr = lb_words_per_row(w->k, w->bits);
#ifdef LB_HAVE_AVX2
    if (lb_simd_active >= LB_SIMD_AVX2 && lb_avx2_gemv_supported(w)) {
        float *xp = NULL;
        if (w->bits == 4) {
            xp = malloc((size_t)w->k * sizeof(float));
            if (!xp) {
                *nomem = 1;
                return;
            }
            lb_avx2_permute_x4(x, w->k, xp);
            x = xp;
        }
        const int64_t blocks = (n + GEMV_BLOCK_ROWS - 1) / GEMV_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (n * w->k > LB_OMP_MIN_WORK)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t r0 = b * GEMV_BLOCK_ROWS, nr = n - r0 < GEMV_BLOCK_ROWS ? n - r0 : GEMV_BLOCK_ROWS;
            lb_avx2_gemv_rows(x, xsum, w, r0, nr, y + r0);
            if (bias)
                for (int64_t r = r0; r < r0 + nr; r++) y[r] += bias[r];
        }
        free(xp);
        return;
    }
#endif
#pragma omp parallel for schedule(static) if (n * w->k > LB_OMP_MIN_WORK)
    for (int64_t r = 0; r < n; r++) {
        const uint32_t *row = w->codes + r * wpr;
        float acc = bias ? bias[r] : 0.0f;
        for (int64_t g = 0; g < groups; g++) {
            float s = lb_load_param(w->scales, w->scale_dtype, r * groups + g);
            float z = lb_load_param(w->zeros, w->scale_dtype, r * groups + g);
            float d = LB_DISPATCH(dot_codes, x + g * gs, row, g * gs, gs, w->bits);
            acc += s * (d - z * xsum[g]);
        }
        y[r] = acc;
    }
}

static void gemm_tiled(const float *x, int64_t m, const lb_qweight *w, const float *bias, float *y, int *nomem) {
    const int64_t n = w->n, k = w->k, gs = w->group_size, groups = k / gs, wpr = lb_words_per_row(k, w->bits);
    int64_t kc = (X_BLOCK_BYTES / (int64_t)sizeof(float) / m) & ~(int64_t)255;
    if (kc < 256) kc = 256;
    if (kc > k) kc = k;
    for (int64_t i = 0; i < m; i++)
        for (int64_t r = 0; r < n; r++) y[i * n + r] = bias ? bias[r] : 0.0f;
    const int64_t tiles = (n + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel if (m * n * k > LB_OMP_MIN_WORK)
    {
        float *wbuf = malloc((size_t)(TILE_ROWS * kc) * sizeof(float));
        if (!wbuf) {
#pragma omp atomic write
            *nomem = 1;
        }
        /* static schedule: a thread owns the same tiles (and rows of y) in every k block */
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
            const int64_t klen = k - k0 < kc ? k - k0 : kc;
#pragma omp for schedule(static) nowait
            for (int64_t t = 0; t < tiles; t++) {
                if (!wbuf) continue;
                const int64_t r0 = t * TILE_ROWS, nr = n - r0 < TILE_ROWS ? n - r0 : TILE_ROWS;
                for (int64_t rr = 0; rr < nr; rr++) {
                    const int64_t r = r0 + rr;
                    for (int64_t j = k0; j < k0 + klen;) { /* runs within one group */
                        const int64_t g = j / gs, end = (g + 1) * gs < k0 + klen ? (g + 1) * gs : k0 + klen;
                        float s = lb_load_param(w->scales, w->scale_dtype, r * groups + g);
                        float z = lb_load_param(w->zeros, w->scale_dtype, r * groups + g);
                        LB_DISPATCH(dequant_run, w->codes + r * wpr, j, end - j, w->bits, s, z, wbuf + rr * kc + (j - k0));
                        j = end;
                    }
                }
                LB_DISPATCH(dot_tile, x + k0, k, m, wbuf, kc, nr, klen, y + r0, n);
            }
        }
        free(wbuf);
    }
}

lb_status lb_cpu_dequant_gemm(const void *x, int32_t x_dtype, int64_t m, const lb_qweight *w, const float *bias, float *y) {
    lb_status st = lb_check_qweight(w, "dequant_gemm", 1);
    if (st) return st;
    if (!x || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "dequant_gemm: x or y is NULL");
    if (m <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "dequant_gemm: m must be positive, got %lld", (long long)m);
    if (x_dtype != LB_DTYPE_F32 && x_dtype != LB_DTYPE_F16 && x_dtype != LB_DTYPE_BF16)
        return lb_fail(LB_ERR_UNSUPPORTED, "dequant_gemm: activation dtype %d is not supported (fp32, fp16, bf16)", (int)x_dtype);
    const int64_t k = w->k, gs = w->group_size, groups = k / gs;
    float *owned;
    const float *xf = x_as_f32(x, x_dtype, m * k, &owned);
    if (!xf) return lb_fail(LB_ERR_OUT_OF_MEMORY, "dequant_gemm: out of memory converting x");
    for (int64_t i = 0; i < m; i++) {
        float lo, hi;
        if (!LB_DISPATCH(minmax, xf + i * k, k, &lo, &hi)) {
            free(owned);
            return lb_fail(LB_ERR_NON_FINITE, "dequant_gemm: NaN or Inf in activation row %lld", (long long)i);
        }
    }
    int nomem = 0;
    if (m == 1) {
        float *xsum = malloc((size_t)groups * sizeof(float));
        if (!xsum) {
            nomem = 1;
        } else {
            for (int64_t g = 0; g < groups; g++) {
                float acc = 0.0f;
                for (int64_t j = g * gs; j < (g + 1) * gs; j++) acc += xf[j];
                xsum[g] = acc;
            }
            gemv(xf, w, bias, y, xsum, &nomem);
            free(xsum);
        }
    } else {
#ifdef LB_HAVE_AVX2
#ifdef LB_HAVE_AVX512
        if (lb_simd_active >= LB_SIMD_AVX512 && m >= LB_DEQUANT_BLOCKED_MIN_M) nomem = lb_avx512_dequant_gemm_blocked(xf, m, w, bias, y);
        else
#endif
        if (lb_simd_active >= LB_SIMD_AVX2 && m >= LB_DEQUANT_BLOCKED_MIN_M) nomem = lb_avx2_dequant_gemm_blocked(xf, m, w, bias, y);
        else
#endif
            gemm_tiled(xf, m, w, bias, y, &nomem);
    }
    free(owned);
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "dequant_gemm: out of memory for scratch buffers");
    return LB_OK;
}
