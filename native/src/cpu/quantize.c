/* Group-wise weight quantization (min-max or MSE-searched ranges) and dequantization. */
#include "dispatch.h"

#include <float.h>
#include <stdlib.h>

#define MSE_GRID 100     /* shrink factors 1 - i / MSE_GRID ... */
#define MSE_STEPS 80     /* ... for i < MSE_STEPS, i.e. down to 0.21 (GPTQ's maxshrink 0.8) */

typedef struct {
    float scale, zero;
} qparams;

/* Scale and zero of the range [lo, hi] (lo <= 0 <= hi), rounded to the storage dtype so the
 * codes are computed against exactly what dequantization will use. */
static int range_params(float lo, float hi, int32_t bits, int symmetric, int32_t dtype, qparams *p) {
    double maxq = (double)((1 << bits) - 1);
    double s;
    float z;
    if (symmetric) {
        double amax = fmax(-(double)lo, (double)hi);
        s = amax / (double)((1 << (bits - 1)) - 1);
        z = (float)(1 << (bits - 1));
    } else {
        s = ((double)hi - (double)lo) / maxq;
        z = 0.0f;
    }
    float sf = (float)s;
    if (sf == 0.0f) sf = 1.0f; /* all-zero group: any scale reproduces it */
    if (dtype == LB_DTYPE_F16) {
        if (sf > 65504.0f) return 0;
        sf = lb_f16_to_f32(lb_f32_to_f16(sf));
        if (sf == 0.0f) sf = 0x1p-24f; /* smallest fp16 subnormal */
    }
    if (!symmetric) {
        z = rintf(-lo / sf);
        z = z < 0.0f ? 0.0f : (z > (float)maxq ? (float)maxq : z);
    }
    p->scale = sf;
    p->zero = z;
    return 1;
}

static double group_sq_error(const float *w, int64_t len, qparams p, float maxq) {
    double err = 0.0;
    const float r = lb_reciprocal(p.scale);
    for (int64_t i = 0; i < len; i++) {
        float q = rintf(lb_scaled(w[i], p.scale, r)) + p.zero;
        q = q < 0.0f ? 0.0f : (q > maxq ? maxq : q);
        double d = (double)((q - p.zero) * p.scale) - (double)w[i];
        err += d * d;
    }
    return err;
}

/* Best shrink of [lo, hi] by squared error; the first (widest) wins ties. */
static int mse_params(const float *w, int64_t len, float lo, float hi, int32_t bits, int symmetric,
                      int32_t dtype, qparams *best) {
    float maxq = (float)((1 << bits) - 1);
    double best_err = INFINITY;
    int found = 0;
    for (int i = 0; i < MSE_STEPS; i++) {
        float shrink = 1.0f - (float)i / (float)MSE_GRID;
        qparams p;
        if (!range_params(shrink * lo, shrink * hi, bits, symmetric, dtype, &p)) continue;
        double err = group_sq_error(w, len, p, maxq);
        if (err < best_err) {
            best_err = err;
            *best = p;
            found = 1;
        }
    }
    return found;
}

/* Zeroes row r's code words, which lb_pack_codes ORs into. */
static uint32_t *clear_row(const lb_qweight *q, int64_t r) {
    const int64_t wpr = lb_words_per_row(q->k, q->bits);
    memset(q->codes + r * wpr, 0, (size_t)wpr * sizeof(uint32_t));
    return q->codes + r * wpr;
}

/* Codes of group g of a row (wg: its weights) under p, packed into the row's stream. */
static void quantize_group(const float *wg, const lb_qweight *q, uint32_t *row, int64_t g, qparams p, uint8_t *buf) {
    LB_DISPATCH(codes, wg, q->group_size, p.scale, p.zero, (float)((1 << q->bits) - 1), buf);
    lb_pack_codes(buf, q->group_size, q->bits, row, g * q->group_size);
}

/* Shared error reporting for the row-parallel loops below: the lowest failing flat index. */
typedef struct {
    int64_t index;
    lb_status status;
} row_failure;

static void note_failure(row_failure *f, int64_t index, lb_status status) {
#pragma omp critical(lb_quantize_failure)
    if (index < f->index) {
        f->index = index;
        f->status = status;
    }
}

lb_status lb_cpu_quantize_weights(const float *w, int64_t ldw, lb_qweight *out, int32_t symmetric, int32_t range) {
    lb_status st = lb_check_qweight(out, "quantize_weights", 1);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_weights: weights pointer is NULL");
    if (ldw < out->k) return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_weights: ldw %lld < k %lld", (long long)ldw, (long long)out->k);
    if (symmetric != 0 && symmetric != 1) return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_weights: symmetric must be 0 or 1");
    if (range != LB_RANGE_MINMAX && range != LB_RANGE_MSE)
        return lb_fail(LB_ERR_UNSUPPORTED, "quantize_weights: range mode %d is not supported (0 min-max, 1 mse)", (int)range);

    const int64_t n = out->n, k = out->k, gs = out->group_size, groups = k / gs;
    row_failure fail = {INT64_MAX, LB_OK};
    int nomem = 0;
#pragma omp parallel
    {
        uint8_t *buf = malloc((size_t)gs);
        if (!buf) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n; r++) {
            if (!buf) continue;
            const float *wr = w + r * ldw;
            uint32_t *row = clear_row(out, r);
            for (int64_t g = 0; g < groups; g++) {
                const float *wg = wr + g * gs;
                float lo, hi;
                if (!LB_DISPATCH(minmax, wg, gs, &lo, &hi)) {
                    note_failure(&fail, r * k + g * gs, LB_ERR_NON_FINITE);
                    break;
                }
                lo = lo < 0.0f ? lo : 0.0f;
                hi = hi > 0.0f ? hi : 0.0f;
                qparams p;
                int fits = range == LB_RANGE_MSE ? mse_params(wg, gs, lo, hi, out->bits, symmetric, out->scale_dtype, &p)
                                                 : range_params(lo, hi, out->bits, symmetric, out->scale_dtype, &p);
                if (!fits) {
                    note_failure(&fail, r * k + g * gs, LB_ERR_RANGE);
                    break;
                }
                lb_store_param(out->scales, out->scale_dtype, r * groups + g, p.scale);
                lb_store_param(out->zeros, out->scale_dtype, r * groups + g, p.zero);
                quantize_group(wg, out, row, g, p, buf); /* while the group is in L1 */
            }
        }
        free(buf);
    }
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "quantize_weights: out of memory for a %lld-byte buffer", (long long)gs);
    if (fail.status == LB_ERR_NON_FINITE)
        return lb_fail(LB_ERR_NON_FINITE, "quantize_weights: NaN or Inf in the group starting at weight [%lld, %lld]",
                       (long long)(fail.index / k), (long long)(fail.index % k));
    if (fail.status == LB_ERR_RANGE)
        return lb_fail(LB_ERR_RANGE,
                       "quantize_weights: the scale of the group starting at [%lld, %lld] exceeds fp16's 65504; use fp32 scales",
                       (long long)(fail.index / k), (long long)(fail.index % k));
    lb_clear_error();
    return LB_OK;
}

lb_status lb_cpu_quantize_weights_with_params(const float *w, int64_t ldw, lb_qweight *q) {
    lb_status st = lb_check_qweight(q, "quantize_weights_with_params", 1);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_weights_with_params: weights pointer is NULL");
    if (ldw < q->k) return lb_fail(LB_ERR_INVALID_ARGUMENT, "quantize_weights_with_params: ldw %lld < k %lld", (long long)ldw, (long long)q->k);
    const int64_t n = q->n, k = q->k, gs = q->group_size, groups = k / gs;
    const float maxq = (float)((1 << q->bits) - 1);
    for (int64_t i = 0; i < n * groups; i++) {
        float s = lb_load_param(q->scales, q->scale_dtype, i), z = lb_load_param(q->zeros, q->scale_dtype, i);
        if (!(s > 0.0f) || !isfinite(s) || !(z >= 0.0f && z <= maxq))
            return lb_fail(LB_ERR_INVALID_ARGUMENT,
                           "quantize_weights_with_params: row %lld group %lld has scale %g, zero %g (need scale > 0 finite, 0 <= zero <= %g)",
                           (long long)(i / groups), (long long)(i % groups), (double)s, (double)z, (double)maxq);
    }
    row_failure fail = {INT64_MAX, LB_OK};
    int nomem = 0;
#pragma omp parallel
    {
        uint8_t *buf = malloc((size_t)gs);
        if (!buf) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n; r++) {
            if (!buf) continue;
            float lo, hi;
            if (!LB_DISPATCH(minmax, w + r * ldw, k, &lo, &hi)) {
                note_failure(&fail, r * k, LB_ERR_NON_FINITE);
                continue;
            }
            uint32_t *row = clear_row(q, r);
            for (int64_t g = 0; g < groups; g++) {
                qparams p = {lb_load_param(q->scales, q->scale_dtype, r * groups + g),
                             lb_load_param(q->zeros, q->scale_dtype, r * groups + g)};
                quantize_group(w + r * ldw + g * gs, q, row, g, p, buf);
            }
        }
        free(buf);
    }
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "quantize_weights_with_params: out of memory");
    if (fail.status)
        return lb_fail(LB_ERR_NON_FINITE, "quantize_weights_with_params: NaN or Inf in weight row %lld",
                       (long long)(fail.index / k));
    lb_clear_error();
    return LB_OK;
}

lb_status lb_cpu_dequantize_weights(const lb_qweight *q, float *w, int64_t ldw) {
    lb_status st = lb_check_qweight(q, "dequantize_weights", 1);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "dequantize_weights: output pointer is NULL");
    if (ldw < q->k) return lb_fail(LB_ERR_INVALID_ARGUMENT, "dequantize_weights: ldw %lld < k %lld", (long long)ldw, (long long)q->k);
    const int64_t n = q->n, gs = q->group_size, groups = q->k / gs, wpr = lb_words_per_row(q->k, q->bits);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++)
        for (int64_t g = 0; g < groups; g++) {
            float s = lb_load_param(q->scales, q->scale_dtype, r * groups + g);
            float z = lb_load_param(q->zeros, q->scale_dtype, r * groups + g);
            LB_DISPATCH(dequant_run, q->codes + r * wpr, g * gs, gs, q->bits, s, z, w + r * ldw + g * gs);
        }
    lb_clear_error();
    return LB_OK;
}

lb_status lb_cpu_fake_quant_groups(const float *x, int64_t m, int64_t k, int64_t group, int32_t bits, float *out) {
    if (!x || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "fake_quant_groups: NULL buffer");
    if (m <= 0 || k <= 0 || group <= 0 || k % group != 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "fake_quant_groups: shape [%lld, %lld] with group %lld (need positive sizes, group divides k)",
                       (long long)m, (long long)k, (long long)group);
    if (bits < 2 || bits > 8) return lb_fail(LB_ERR_UNSUPPORTED, "fake_quant_groups: %d bits (use 2 to 8)", (int)bits);
    const int64_t groups = m * (k / group);
    const float maxq = (float)((1 << bits) - 1);
    int64_t bad = INT64_MAX;
#pragma omp parallel
    {
        uint8_t *buf = malloc((size_t)group);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < groups; i++) {
            const float *xg = x + i * group;
            float *og = out + i * group;
            float lo, hi;
            if (!buf || !LB_DISPATCH(minmax, xg, group, &lo, &hi)) {
#pragma omp critical(lb_fake_quant_groups_failure)
                if (i < bad) bad = i;
                continue;
            }
            qparams p;
            range_params(lo < 0.0f ? lo : 0.0f, hi > 0.0f ? hi : 0.0f, bits, 0, LB_DTYPE_F32, &p);
            LB_DISPATCH(codes, xg, group, p.scale, p.zero, maxq, buf);
            for (int64_t j = 0; j < group; j++) og[j] = ((float)buf[j] - p.zero) * p.scale;
        }
        free(buf);
    }
    if (bad != INT64_MAX)
        return lb_fail(LB_ERR_NON_FINITE, "fake_quant_groups: NaN or Inf (or no memory) in the group starting at [%lld, %lld]",
                       (long long)(bad * group / k), (long long)(bad * group % k));
    lb_clear_error();
    return LB_OK;
}
