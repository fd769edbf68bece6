/* Validation of lb_qweight descriptors, the same for both backends. */
#include "checks.h"

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
