/* QLLM's channel reassembly at inference: one fused gather + scale + average per activation row. */
#include "common.h"

#include <string.h>

/* Checks the map's indices against k_in and its factors for finiteness. */
static lb_status check_map(const char *fn, int64_t k_in, const int32_t *ia, const int32_t *ib, const float *sa, const float *sb,
                           int64_t k_out) {
    for (int64_t j = 0; j < k_out; j++) {
        lb_status st = lb_check_channel(fn, j, ia[j], ib[j], sa[j], sb[j], k_in);
        if (st) return st;
    }
    return LB_OK;
}

static lb_status check_args(const char *fn, const void *in, const void *out, int64_t m, int64_t k_in, const int32_t *ia,
                            const int32_t *ib, const float *sa, const float *sb, int64_t k_out) {
    if (!in || !ia || !ib || !sa || !sb || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", fn);
    if (m <= 0 || k_in <= 0 || k_out <= 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: m, k_in and k_out must be positive, got %lld, %lld, %lld", fn, (long long)m,
                       (long long)k_in, (long long)k_out);
    return check_map(fn, k_in, ia, ib, sa, sb, k_out);
}

lb_status lb_cpu_channel_reassemble(const float *x, int64_t m, int64_t k_in, const int32_t *ia, const int32_t *ib,
                                    const float *sa, const float *sb, int64_t k_out, float *out) {
    lb_status st = check_args("channel_reassemble", x, out, m, k_in, ia, ib, sa, sb, k_out);
    if (st) return st;
#pragma omp parallel for schedule(static) if (m * k_out > 65536)
    for (int64_t t = 0; t < m; t++) {
        const float *xr = x + t * k_in;
        float *o = out + t * k_out;
        for (int64_t j = 0; j < k_out; j++) o[j] = sa[j] * xr[ia[j]] + sb[j] * xr[ib[j]];
    }
    return LB_OK;
}

lb_status lb_cpu_channel_reassemble_backward(const float *dout, int64_t m, int64_t k_out, const int32_t *ia,
                                             const int32_t *ib, const float *sa, const float *sb, int64_t k_in, float *dx) {
    lb_status st = check_args("channel_reassemble_backward", dout, dx, m, k_in, ia, ib, sa, sb, k_out);
    if (st) return st;
#pragma omp parallel for schedule(static) if (m * k_out > 65536)
    for (int64_t t = 0; t < m; t++) {
        const float *d = dout + t * k_out;
        float *o = dx + t * k_in;
        memset(o, 0, (size_t)k_in * sizeof(float));
        for (int64_t j = 0; j < k_out; j++) {
            o[ia[j]] += sa[j] * d[j];
            o[ib[j]] += sb[j] * d[j];
        }
    }
    return LB_OK;
}
