/* Fake quantization of weights for quantization-aware training, with the straight-through
 * backward: rounding passes gradients through, the clamp stops them. */
#include "common.h"

typedef struct {
    int64_t n, k, gs, groups;
    float maxq;
} fq_shape;

static lb_status check_fake_quant(const char *what, const float *w, int64_t n, int64_t k, int32_t bits, int32_t gs,
                                  const float *scales, const float *zeros, fq_shape *sh) {
    if (!w || !scales || !zeros) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (n <= 0 || k <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: shape [%lld, %lld] must be positive", what, (long long)n, (long long)k);
    if (!lb_bits_supported(bits)) return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d bits not supported (2, 3, 4, 6 or 8)", what, (int)bits);
    if (gs <= 0 || k % gs != 0)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: group size %d does not divide k = %lld", what, (int)gs, (long long)k);
    sh->n = n;
    sh->k = k;
    sh->gs = gs;
    sh->groups = k / gs;
    sh->maxq = (float)((1 << bits) - 1);
    for (int64_t i = 0; i < n * sh->groups; i++)
        if (!(scales[i] > 0.0f) || !isfinite(scales[i]) || !isfinite(zeros[i]))
            return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: group %lld has scale %g, zero %g (need a finite scale > 0)", what,
                           (long long)i, (double)scales[i], (double)zeros[i]);
    for (int64_t i = 0; i < n * k; i++)
        if (!isfinite(w[i]))
            return lb_fail(LB_ERR_NON_FINITE, "%s: NaN or Inf at weight [%lld, %lld]", what, (long long)(i / k), (long long)(i % k));
    return LB_OK;
}

/* Unclamped code t = rint(w / s) + z; the clamp is active where t leaves [0, maxq]. */
static inline float raw_code(float w, float s, float z) { return rintf(lb_scaled(w, s, lb_reciprocal(s))) + z; }

lb_status lb_cpu_fake_quant_forward(const float *w, int64_t n, int64_t k, int32_t bits, int32_t group_size,
                                    const float *scales, const float *zeros, const float *magnitude, float *out) {
    fq_shape sh;
    lb_status st = check_fake_quant("fake_quant_forward", w, n, k, bits, group_size, scales, zeros, &sh);
    if (st) return st;
    if (!out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "fake_quant_forward: output is NULL");
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++)
        for (int64_t g = 0; g < sh.groups; g++) {
            const int64_t p = r * sh.groups + g;
            const float s = scales[p], z = zeros[p], m = magnitude ? magnitude[p] : 1.0f;
            for (int64_t j = g * sh.gs; j < (g + 1) * sh.gs; j++) {
                float q = raw_code(w[r * k + j], s, z);
                q = q < 0.0f ? 0.0f : (q > sh.maxq ? sh.maxq : q);
                out[r * k + j] = (m * s) * (q - z); /* as dequantizing with the folded scale m * s */
            }
        }
    return LB_OK;
}

lb_status lb_cpu_fake_quant_backward(const float *w, int64_t n, int64_t k, int32_t bits, int32_t group_size,
                                     const float *scales, const float *zeros, const float *magnitude,
                                     const float *grad_out, float *grad_w, float *grad_scales, float *grad_magnitude) {
    fq_shape sh;
    lb_status st = check_fake_quant("fake_quant_backward", w, n, k, bits, group_size, scales, zeros, &sh);
    if (st) return st;
    if (!grad_out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "fake_quant_backward: grad_out is NULL");
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++)
        for (int64_t g = 0; g < sh.groups; g++) {
            const int64_t p = r * sh.groups + g;
            const float s = scales[p], z = zeros[p], m = magnitude ? magnitude[p] : 1.0f;
            double gs_acc = 0.0, gm_acc = 0.0;
            for (int64_t j = g * sh.gs; j < (g + 1) * sh.gs; j++) {
                const int64_t i = r * k + j;
                const float t = raw_code(w[i], s, z);
                const int clipped = t < 0.0f || t > sh.maxq;
                const float q = t < 0.0f ? 0.0f : (t > sh.maxq ? sh.maxq : t);
                const float go = grad_out[i];
                if (grad_w) grad_w[i] = clipped ? 0.0f : go * m;
                gm_acc += (double)go * (double)s * (double)(q - z);
                gs_acc += (double)go * (double)m * (clipped ? (double)(q - z) : (double)(q - z) - (double)w[i] / (double)s);
            }
            if (grad_scales) grad_scales[p] = (float)gs_acc;
            if (grad_magnitude) grad_magnitude[p] = (float)gm_acc;
        }
    return LB_OK;
}
