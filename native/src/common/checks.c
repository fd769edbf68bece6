/* Validation of lb_qweight descriptors and of the model ops' arguments, the same for both backends. */
#include "checks.h"

#include <math.h>

lb_status lb_check_qweight(const lb_qweight *q, const char *what, int need_params) {
    if (!q) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: weight descriptor is NULL", what);
    if (q->n <= 0 || q->k <= 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: weight shape [%lld, %lld] must be positive", what,
                       (long long)q->n, (long long)q->k);
    if (!lb_bits_supported(q->bits))
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d-bit weights are not supported (use 2, 3, 4, 6 or 8)", what,
                       (int)q->bits);
    int32_t g = q->group_size;
    int ok_group = g == q->k || ((g == 32 || g == 64 || g == 128 || g == 256) && q->k % g == 0);
    if (!ok_group)
        return lb_fail(LB_ERR_UNSUPPORTED,
                       "%s: group size %d does not fit k = %lld (use 32, 64, 128 or 256 dividing k, or k)",
                       what, (int)g, (long long)q->k);
    if (q->scale_dtype != LB_DTYPE_F32 && q->scale_dtype != LB_DTYPE_F16)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: scale dtype %d is not supported (fp32 or fp16)", what,
                       (int)q->scale_dtype);
    if (!q->codes) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: codes buffer is NULL", what);
    if (need_params && (!q->scales || !q->zeros))
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: scales or zeros buffer is NULL", what);
    if (q->reserved != 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: reserved field must be 0", what);
    return LB_OK;
}

lb_status lb_check_rows(const char *what, const void *a, const void *b, int64_t m, int64_t n) {
    if (!a || !b) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || n <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: shape [%lld, %lld] must be positive", what, (long long)m, (long long)n);
    return LB_OK;
}

lb_status lb_check_rope(const char *what, const void *x, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0,
                        int64_t period, float theta) {
    if (!x) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 || period <= 0 || pos0 < 0 || !(theta > 0.0f))
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: invalid m %lld, heads %lld, head_dim %lld (even), pos0 %lld, period %lld, theta %g",
                       what, (long long)m, (long long)heads, (long long)head_dim, (long long)pos0, (long long)period, (double)theta);
    return LB_OK;
}

lb_status lb_check_attention(const char *what, int64_t m, int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim) {
    if (m <= 0 || pos0 < 0 || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || heads % kv_heads)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: invalid m %lld, pos0 %lld, heads %lld, kv_heads %lld, head_dim %lld", what,
                       (long long)m, (long long)pos0, (long long)heads, (long long)kv_heads, (long long)head_dim);
    return LB_OK;
}

lb_status lb_check_attention_train(const char *what, int64_t b, int64_t t, int64_t heads, int64_t kv_heads, int64_t head_dim) {
    if (b <= 0 || t <= 0 || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || heads % kv_heads)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: invalid b %lld, t %lld, heads %lld, kv_heads %lld, head_dim %lld", what,
                       (long long)b, (long long)t, (long long)heads, (long long)kv_heads, (long long)head_dim);
    return LB_OK;
}

lb_status lb_check_channel(const char *what, int64_t j, int32_t ia, int32_t ib, float sa, float sb, int64_t k_in) {
    if (ia < 0 || ia >= k_in || ib < 0 || ib >= k_in)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: output channel %lld reads channels %d and %d of %lld", what, (long long)j,
                       (int)ia, (int)ib, (long long)k_in);
    if (!isfinite(sa) || !isfinite(sb))
        return lb_fail(LB_ERR_NON_FINITE, "%s: output channel %lld has factors %g, %g", what, (long long)j, (double)sa, (double)sb);
    return LB_OK;
}
