/* Per-token activation quantization and fake quantization of row groups: one block per row (or
 * group) finds the range, then every thread writes its codes. Bit-identical to the CPU kernels. */
#include "common.cuh"

#define ROW_THREADS 256

__global__ void quantize_activations_kernel(const float *x, int64_t k, int32_t bits, uint8_t *codes, float *scales,
                                            float *zeros) {
    const int64_t row = blockIdx.x;
    const float *xr = x + row * k;
    const float maxq = (float)((1 << bits) - 1);
    float lo, hi;
    const int finite = lb_block_range(xr, k, &lo, &hi);
    /* as the CPU: the scale from doubles, the zero from the fp32 scale */
    float s = __double2float_rn(__ddiv_rn(__dsub_rn((double)hi, (double)lo), (double)maxq));
    if (s == 0.0f) s = 1.0f;
    float z = rintf(__fdiv_rn(-lo, s));
    z = z < 0.0f ? 0.0f : (z > maxq ? maxq : z);
    if (!finite) s = __int_as_float(0x7fc00000); /* NaN: the row's results become NaN, see lowbit.h */
    if (threadIdx.x == 0) {
        scales[row] = s;
        zeros[row] = z;
    }
    const float r = lb_reciprocal(s);
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) codes[row * k + j] = finite ? (uint8_t)lb_code(xr[j], s, r, z, maxq) : 0;
}

extern "C" lb_status lb_cuda_quantize_activations(const float *x, int64_t m, int64_t k, int32_t bits, uint8_t *codes,
                                                  float *scales, float *zeros, cudaStream_t stream) {
    const char *what = "cuda_quantize_activations";
    if (!x || !codes || !scales || !zeros) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || k <= 0 || m > INT32_MAX)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: shape [%lld, %lld] must be positive (at most 2^31 rows)", what,
                       (long long)m, (long long)k);
    if (bits != 4 && bits != 8)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d-bit activations are not supported (use 4 or 8)", what, (int)bits);
    quantize_activations_kernel<<<(unsigned)m, ROW_THREADS, 0, stream>>>(x, k, bits, codes, scales, zeros);
    return lb_cuda_launched(what);
}

__global__ void fake_quant_groups_kernel(const float *x, int64_t group, int32_t bits, float *out, unsigned long long *flag) {
    const int64_t item = blockIdx.x;
    const float *xg = x + item * group;
    float lo, hi, s, z;
    if (!lb_block_range(xg, group, &lo, &hi)) {
        if (threadIdx.x == 0) lb_flag_report(flag, (unsigned long long)item);
        return;
    }
    lb_range_params(lo, hi, bits, 0, LB_DTYPE_F32, &s, &z);
    const float r = lb_reciprocal(s), maxq = (float)((1 << bits) - 1);
    /* out may alias x: each thread writes only the elements it reads */
    for (int64_t j = threadIdx.x; j < group; j += blockDim.x)
        out[item * group + j] = __fmul_rn(__fsub_rn(lb_code(xg[j], s, r, z, maxq), z), s);
}

extern "C" lb_status lb_cuda_fake_quant_groups(const float *x, int64_t m, int64_t k, int64_t group, int32_t bits, float *out,
                                               cudaStream_t stream) {
    const char *what = "cuda_fake_quant_groups";
    if (!x || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || k <= 0 || group <= 0 || k % group != 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: shape [%lld, %lld] with group %lld (need positive sizes, group divides k)",
                       what, (long long)m, (long long)k, (long long)group);
    if (bits < 2 || bits > 8) return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d bits (use 2 to 8)", what, (int)bits);
    const int64_t groups = m * (k / group);
    if (groups > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 groups", what);
    lb_flag flag;
    unsigned long long first;
    lb_status st = lb_flag_open(&flag, stream, what);
    if (st) return st;
    fake_quant_groups_kernel<<<(unsigned)groups, ROW_THREADS, 0, stream>>>(x, group, bits, out, flag.dev);
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    if (first != ~0ULL)
        return lb_fail(LB_ERR_NON_FINITE, "%s: NaN or Inf in the group starting at [%lld, %lld]", what,
                       (long long)(first * group / k), (long long)(first * group % k));
    lb_clear_error();
    return LB_OK;
}
