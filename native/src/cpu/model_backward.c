/* Backward passes of the transformer ops, for training (llm.c style: explicit, from saved
 * activations). */
#include "common.h"

#include <stdlib.h>

lb_status lb_cpu_rmsnorm_backward(const float *x, const float *w, const float *inv_rms, const float *dy, int64_t m,
                                  int64_t d, float *dx, float *dw) {
    if (!x || !w || !inv_rms || !dy || !dx || !dw) return lb_fail(LB_ERR_INVALID_ARGUMENT, "rmsnorm_backward: NULL buffer");
    if (m <= 0 || d <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "rmsnorm_backward: shape must be positive");
    /* y = x r w, r = (mean x^2 + eps)^-1/2: dx = r (w dy) - x r^3 mean(x w dy) */
    for (int64_t i = 0; i < m; i++) {
        const float *xr = x + i * d, *g = dy + i * d;
        const double r = inv_rms[i];
        double dot = 0.0;
        for (int64_t j = 0; j < d; j++) dot += (double)xr[j] * w[j] * g[j];
        const double c = r * r * r * dot / (double)d;
        for (int64_t j = 0; j < d; j++) {
            dx[i * d + j] = (float)(r * w[j] * g[j] - xr[j] * c);
            dw[j] += (float)(xr[j] * r * g[j]);
        }
    }
    return LB_OK;
}

lb_status lb_cpu_rope_backward(float *dx, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period,
                               float theta) {
    lb_status st = lb_check_rope("rope_backward", dx, m, heads, head_dim, pos0, period, theta);
    if (st) return st;
    for (int64_t r = 0; r < m; r++) {
        const double pos = (double)(pos0 + r % period);
        for (int64_t i = 0; i < head_dim; i += 2) {
            const double angle = pos * pow((double)theta, -(double)i / (double)head_dim);
            const float c = (float)cos(angle), s = (float)sin(angle);
            for (int64_t h = 0; h < heads; h++) {
                float *p = dx + (r * heads + h) * head_dim + i;
                const float a = p[0], b = p[1];
                p[0] = a * c + b * s; /* the transpose of the rotation */
                p[1] = -a * s + b * c;
            }
        }
    }
    return LB_OK;
}

lb_status lb_cpu_attention_train(const float *q, const float *k, const float *v, int64_t b, int64_t t, int64_t heads,
                                 int64_t kv_heads, int64_t head_dim, float *out, float *probs) {
    if (!q || !k || !v || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "attention_train: NULL buffer");
    lb_status st = lb_check_attention_train("attention_train", b, t, heads, kv_heads, head_dim);
    if (st) return st;
    const int64_t group = heads / kv_heads, qw = heads * head_dim, kw = kv_heads * head_dim;
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    int nomem = 0;
#pragma omp parallel
    {
        float *buf = probs ? NULL : malloc((size_t)t * sizeof(float));
        if (!probs && !buf) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static) collapse(3)
        for (int64_t s = 0; s < b; s++)
            for (int64_t h = 0; h < heads; h++)
                for (int64_t i = 0; i < t; i++) {
                    if (!probs && !buf) continue;
                    float *p = probs ? probs + ((s * heads + h) * t + i) * t : buf;
                    const float *qi = q + (s * t + i) * qw + h * head_dim;
                    const int64_t kvh = h / group;
                    float mx = -INFINITY;
                    for (int64_t j = 0; j <= i; j++) {
                        const float *kj = k + (s * t + j) * kw + kvh * head_dim;
                        float dot = 0.0f;
                        for (int64_t e = 0; e < head_dim; e++) dot += qi[e] * kj[e];
                        p[j] = dot * scale;
                        mx = p[j] > mx ? p[j] : mx;
                    }
                    double sum = 0.0;
                    for (int64_t j = 0; j <= i; j++) {
                        p[j] = expf(p[j] - mx);
                        sum += p[j];
                    }
                    const float inv = (float)(1.0 / sum);
                    float *o = out + (s * t + i) * qw + h * head_dim;
                    for (int64_t e = 0; e < head_dim; e++) o[e] = 0.0f;
                    for (int64_t j = 0; j <= i; j++) {
                        p[j] *= inv;
                        const float *vj = v + (s * t + j) * kw + kvh * head_dim;
                        for (int64_t e = 0; e < head_dim; e++) o[e] += p[j] * vj[e];
                    }
                    for (int64_t j = i + 1; j < t; j++) p[j] = 0.0f;
                }
        free(buf);
    }
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "attention_train: out of memory");
    return LB_OK;
}

lb_status lb_cpu_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                                    const float *dout, int64_t b, int64_t t, int64_t heads, int64_t kv_heads,
                                    int64_t head_dim, float *dq, float *dk, float *dv) {
    if (!q || !k || !v || !probs || !dout || !dq || !dk || !dv)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "attention_backward: NULL buffer");
    lb_status st = lb_check_attention_train("attention_backward", b, t, heads, kv_heads, head_dim);
    if (st) return st;
    const int64_t group = heads / kv_heads, qw = heads * head_dim, kw = kv_heads * head_dim;
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    memset(dq, 0, (size_t)(b * t * qw) * sizeof(float));
    memset(dk, 0, (size_t)(b * t * kw) * sizeof(float));
    memset(dv, 0, (size_t)(b * t * kw) * sizeof(float));
    int nomem = 0;
    /* one sequence and key/value head per work item: its query heads write disjoint dq rows and
     * the item owns its dk, dv slices */
#pragma omp parallel
    {
        float *dp = malloc((size_t)t * sizeof(float));
        if (!dp) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static) collapse(2)
        for (int64_t s = 0; s < b; s++)
            for (int64_t kvh = 0; kvh < kv_heads; kvh++) {
                if (!dp) continue;
                for (int64_t h = kvh * group; h < (kvh + 1) * group; h++)
                    for (int64_t i = 0; i < t; i++) {
                        const float *p = probs + ((s * heads + h) * t + i) * t;
                        const float *go = dout + (s * t + i) * qw + h * head_dim;
                        double pdp = 0.0;
                        for (int64_t j = 0; j <= i; j++) {
                            const float *vj = v + (s * t + j) * kw + kvh * head_dim;
                            float *dvj = dv + (s * t + j) * kw + kvh * head_dim;
                            float acc = 0.0f;
                            for (int64_t e = 0; e < head_dim; e++) {
                                acc += go[e] * vj[e];
                                dvj[e] += p[j] * go[e];
                            }
                            dp[j] = acc;
                            pdp += (double)p[j] * acc;
                        }
                        const float *qi = q + (s * t + i) * qw + h * head_dim;
                        float *dqi = dq + (s * t + i) * qw + h * head_dim;
                        for (int64_t j = 0; j <= i; j++) {
                            const float ds = p[j] * (dp[j] - (float)pdp) * scale;
                            const float *kj = k + (s * t + j) * kw + kvh * head_dim;
                            float *dkj = dk + (s * t + j) * kw + kvh * head_dim;
                            for (int64_t e = 0; e < head_dim; e++) {
                                dqi[e] += ds * kj[e];
                                dkj[e] += ds * qi[e];
                            }
                        }
                    }
            }
        free(dp);
    }
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "attention_backward: out of memory");
    return LB_OK;
}

lb_status lb_cpu_silu_gate_backward(const float *gate, const float *up, const float *dout, int64_t n, float *dgate,
                                    float *dup) {
    if (!gate || !up || !dout || !dgate || !dup) return lb_fail(LB_ERR_INVALID_ARGUMENT, "silu_gate_backward: NULL buffer");
    if (n <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "silu_gate_backward: n must be positive");
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], u = up[i], d = dout[i];
        const float sig = 1.0f / (1.0f + expf(-g));
        dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
        dup[i] = d * g * sig;
    }
    return LB_OK;
}

lb_status lb_cpu_cross_entropy_backward(const float *logits, const int32_t *targets, int64_t m, int64_t vocab,
                                        float scale, float *dlogits) {
    if (!logits || !targets || !dlogits) return lb_fail(LB_ERR_INVALID_ARGUMENT, "cross_entropy_backward: NULL buffer");
    if (m <= 0 || vocab <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "cross_entropy_backward: shape must be positive");
    lb_status st = lb_check_targets("cross_entropy_backward", targets, m, vocab);
    if (st) return st;
#pragma omp parallel for schedule(static) if (m > 16)
    for (int64_t i = 0; i < m; i++) {
        const float *x = logits + i * vocab;
        float *g = dlogits + i * vocab;
        float mx;
        double lse;
        lb_row_logsumexp(x, vocab, &mx, &lse);
        const int32_t target = targets[i];
        for (int64_t j = 0; j < vocab; j++) {
            const double p = exp((double)(x[j] - mx) - lse);
            g[j] = (float)((p - (j == target ? 1.0 : 0.0)) * scale);
        }
    }
    return LB_OK;
}
