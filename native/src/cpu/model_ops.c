/* The element-wise and attention operations of the LLaMA forward pass. */
#include "common.h"

#include <stdlib.h>

lb_status lb_cpu_rmsnorm(const float *x, const float *w, int64_t m, int64_t d, float eps, float *y, float *inv_rms) {
    lb_status st = lb_check_rows("rmsnorm", x, y, m, d);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "rmsnorm: weight is NULL");
    if (!(eps > 0.0f)) return lb_fail(LB_ERR_INVALID_ARGUMENT, "rmsnorm: eps must be positive, got %g", (double)eps);
#pragma omp parallel for schedule(static) if (m > 16)
    for (int64_t i = 0; i < m; i++) {
        const float *xr = x + i * d;
        double ss = 0.0;
        for (int64_t j = 0; j < d; j++) ss += (double)xr[j] * xr[j];
        const float r = (float)(1.0 / sqrt(ss / (double)d + (double)eps));
        for (int64_t j = 0; j < d; j++) y[i * d + j] = xr[j] * r * w[j];
        if (inv_rms) inv_rms[i] = r;
    }
    return LB_OK;
}

lb_status lb_cpu_rope(float *x, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period, float theta) {
    lb_status st = lb_check_rope("rope", x, m, heads, head_dim, pos0, period, theta);
    if (st) return st;
#pragma omp parallel for schedule(static) if (m > 16)
    for (int64_t r = 0; r < m; r++) {
        const double pos = (double)(pos0 + r % period);
        for (int64_t i = 0; i < head_dim; i += 2) {
            const double angle = pos * pow((double)theta, -(double)i / (double)head_dim);
            const float c = (float)cos(angle), s = (float)sin(angle);
            for (int64_t h = 0; h < heads; h++) {
                float *p = x + (r * heads + h) * head_dim + i;
                const float a = p[0], b = p[1];
                p[0] = a * c - b * s;
                p[1] = a * s + b * c;
            }
        }
    }
    return LB_OK;
}

lb_status lb_cpu_attention(const float *q, const float *k, const float *v, int64_t m, int64_t pos0, int64_t heads,
                           int64_t kv_heads, int64_t head_dim, float *out) {
    if (!q || !k || !v || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "attention: NULL buffer");
    lb_status st = lb_check_attention("attention", m, pos0, heads, kv_heads, head_dim);
    if (st) return st;
    const int64_t group = heads / kv_heads, len = pos0 + m;
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    int nomem = 0;
#pragma omp parallel if (m * heads * len * head_dim > LB_OMP_MIN_WORK)
    {
        float *w = malloc((size_t)len * sizeof(float));
        if (!w) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static) collapse(2)
        for (int64_t r = 0; r < m; r++)
            for (int64_t h = 0; h < heads; h++) {
                if (!w) continue;
                const float *qv = q + (r * heads + h) * head_dim;
                const int64_t kvh = h / group, visible = pos0 + r + 1;
                float mx = -INFINITY;
                for (int64_t t = 0; t < visible; t++) {
                    const float *kt = k + (t * kv_heads + kvh) * head_dim;
                    float dot = 0.0f;
                    for (int64_t j = 0; j < head_dim; j++) dot += qv[j] * kt[j];
                    w[t] = dot * scale;
                    mx = w[t] > mx ? w[t] : mx;
                }
                double sum = 0.0;
                for (int64_t t = 0; t < visible; t++) {
                    w[t] = expf(w[t] - mx);
                    sum += w[t];
                }
                float *o = out + (r * heads + h) * head_dim;
                for (int64_t j = 0; j < head_dim; j++) o[j] = 0.0f;
                const float inv = (float)(1.0 / sum);
                for (int64_t t = 0; t < visible; t++) {
                    const float *vt = v + (t * kv_heads + kvh) * head_dim;
                    const float p = w[t] * inv;
                    for (int64_t j = 0; j < head_dim; j++) o[j] += p * vt[j];
                }
            }
        free(w);
    }
    if (nomem) return lb_fail(LB_ERR_OUT_OF_MEMORY, "attention: out of memory");
    return LB_OK;
}

lb_status lb_cpu_silu_gate(const float *gate, const float *up, int64_t n, float *out) {
    lb_status st = lb_check_rows("silu_gate", gate, up, 1, n);
    if (st) return st;
    if (!out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "silu_gate: output is NULL");
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
    return LB_OK;
}

lb_status lb_cpu_add_into(const float *x, int64_t n, float *acc) {
    lb_status st = lb_check_rows("add_into", x, acc, 1, n);
    if (st) return st;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) acc[i] += x[i];
    return LB_OK;
}

lb_status lb_cpu_log_softmax(const float *x, int64_t m, int64_t n, float *out) {
    lb_status st = lb_check_rows("log_softmax", x, out, m, n);
    if (st) return st;
#pragma omp parallel for schedule(static) if (m > 16)
    for (int64_t i = 0; i < m; i++) {
        float mx;
        double lse;
        lb_row_logsumexp(x + i * n, n, &mx, &lse);
        for (int64_t j = 0; j < n; j++) out[i * n + j] = (float)((double)(x[i * n + j] - mx) - lse);
    }
    return LB_OK;
}

lb_status lb_cpu_cross_entropy(const float *logits, const int32_t *targets, int64_t m, int64_t vocab, float *losses) {
    lb_status st = lb_check_rows("cross_entropy", logits, losses, m, vocab);
    if (st) return st;
    if (!targets) return lb_fail(LB_ERR_INVALID_ARGUMENT, "cross_entropy: targets are NULL");
    st = lb_check_targets("cross_entropy", targets, m, vocab);
    if (st) return st;
#pragma omp parallel for schedule(static) if (m > 16)
    for (int64_t i = 0; i < m; i++) {
        float mx;
        double lse;
        lb_row_logsumexp(logits + i * vocab, vocab, &mx, &lse);
        losses[i] = (float)(lse - (double)(logits[i * vocab + targets[i]] - mx));
    }
    return LB_OK;
}
