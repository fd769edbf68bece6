/* QLLM's channel reassembly at inference: one fused gather + scale + average per activation row. */
#include "common.h"

#include <math.h>

lb_status lb_cpu_channel_reassemble(const float *x, int64_t m, int64_t k_in, const int32_t *ia, const int32_t *ib,
                                    const float *sa, const float *sb, int64_t k_out, float *out) {
    if (!x || !ia || !ib || !sa || !sb || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "channel_reassemble: NULL buffer");
    if (m <= 0 || k_in <= 0 || k_out <= 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "channel_reassemble: m, k_in and k_out must be positive, got %lld, %lld, %lld",
                       (long long)m, (long long)k_in, (long long)k_out);
    for (int64_t j = 0; j < k_out; j++) {
        if (ia[j] < 0 || ia[j] >= k_in || ib[j] < 0 || ib[j] >= k_in)
            return lb_fail(LB_ERR_INVALID_ARGUMENT, "channel_reassemble: output channel %lld reads channels %d and %d of %lld",
                           (long long)j, (int)ia[j], (int)ib[j], (long long)k_in);
        if (!isfinite(sa[j]) || !isfinite(sb[j]))
            return lb_fail(LB_ERR_NON_FINITE, "channel_reassemble: output channel %lld has factors %g, %g", (long long)j,
                           (double)sa[j], (double)sb[j]);
    }
#pragma omp parallel for schedule(static) if (m * k_out > 65536)
    for (int64_t t = 0; t < m; t++) {
        const float *xr = x + t * k_in;
        float *o = out + t * k_out;
        for (int64_t j = 0; j < k_out; j++) o[j] = sa[j] * xr[ia[j]] + sb[j] * xr[ib[j]];
    }
    return LB_OK;
}
