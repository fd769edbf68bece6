/* Fake quantization of weights for quantization-aware training and its straight-through backward
 * (as the CPU kernels; see lowbit.h). Both first check the scales and weights on the GPU and
 * report the first bad one, which needs one synchronization. */
#include "common.cuh"

#define GROUP_THREADS 128

typedef struct {
    const float *w, *scales, *zeros, *magnitude;
    int64_t n, k, gs, groups;
    int32_t bits;
} fq_args;

/* Reports group i with a bad scale or zero as i, weight i that is not finite as n * groups + i,
 * so the first bad scale wins over any weight, as on the CPU. */
__global__ void check_kernel(fq_args a, unsigned long long *flag) {
    const int64_t params = a.n * a.groups, total = params + a.n * a.k;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int bad = i < params ? !(a.scales[i] > 0.0f) || !isfinite(a.scales[i]) || !isfinite(a.zeros[i])
                                   : !isfinite(a.w[i - params]);
        if (bad) lb_flag_report(flag, (unsigned long long)i);
    }
}

static lb_status check_args(const char *what, const float *w, int64_t n, int64_t k, int32_t bits, int32_t gs,
                            const float *scales, const float *zeros, const float *magnitude, cudaStream_t stream, fq_args *a) {
    if (!w || !scales || !zeros) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (n <= 0 || k <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: shape [%lld, %lld] must be positive", what, (long long)n, (long long)k);
    if (!lb_bits_supported(bits)) return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d bits not supported (2, 3, 4, 6 or 8)", what, (int)bits);
    if (gs <= 0 || k % gs != 0)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: group size %d does not divide k = %lld", what, (int)gs, (long long)k);
    *a = fq_args{w, scales, zeros, magnitude, n, k, gs, k / gs, bits};
    if (n * a->groups > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 groups", what);
    lb_flag flag;
    unsigned long long first;
    lb_status st = lb_flag_open(&flag, stream, what);
    if (st) return st;
    check_kernel<<<1024, 256, 0, stream>>>(*a, flag.dev);
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    const unsigned long long params = (unsigned long long)(n * a->groups);
    if (first == ~0ULL) return LB_OK;
    if (first < params) {
        float s, z;
        LB_CUDA_TRY(cudaMemcpy(&s, scales + first, 4, cudaMemcpyDeviceToHost), what);
        LB_CUDA_TRY(cudaMemcpy(&z, zeros + first, 4, cudaMemcpyDeviceToHost), what);
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: group %lld has scale %g, zero %g (need a finite scale > 0)", what,
                       (long long)first, (double)s, (double)z);
    }
    first -= params;
    return lb_fail(LB_ERR_NON_FINITE, "%s: NaN or Inf at weight [%lld, %lld]", what, (long long)(first / k), (long long)(first % k));
}

/* Unclamped code t = rint(w / s) + z; the clamp is active where t leaves [0, maxq]. */
__device__ __forceinline__ float raw_code(float w, float s, float z) {
    return __fadd_rn(rintf(lb_scaled(w, s, lb_reciprocal(s))), z);
}

__global__ void forward_kernel(fq_args a, float *out) {
    const int64_t total = a.n * a.k;
    const float maxq = (float)((1 << a.bits) - 1);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t p = (i / a.k) * a.groups + (i % a.k) / a.gs;
        const float s = a.scales[p], z = a.zeros[p], m = a.magnitude ? a.magnitude[p] : 1.0f;
        float q = raw_code(a.w[i], s, z);
        q = q < 0.0f ? 0.0f : (q > maxq ? maxq : q);
        out[i] = __fmul_rn(__fmul_rn(m, s), __fsub_rn(q, z)); /* as dequantizing with the folded scale m * s */
    }
}

extern "C" lb_status lb_cuda_fake_quant_forward(const float *w, int64_t n, int64_t k, int32_t bits, int32_t group_size,
                                                const float *scales, const float *zeros, const float *magnitude, float *out,
                                                cudaStream_t stream) {
    const char *what = "cuda_fake_quant_forward";
    fq_args a;
    lb_status st = check_args(what, w, n, k, bits, group_size, scales, zeros, magnitude, stream, &a);
    if (st) return st;
    if (!out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: output is NULL", what);
    const int64_t total = n * k;
    forward_kernel<<<lb_blocks(total < (1 << 26) ? total : (1 << 26), 256), 256, 0, stream>>>(a, out);
    return lb_cuda_launched(what);
}

/* One block per (row, group): grad_w per weight, the scale and magnitude gradients summed in double. */
__global__ void backward_kernel(fq_args a, const float *grad_out, float *grad_w, float *grad_scales, float *grad_magnitude) {
    const int64_t p = blockIdx.x, r = p / a.groups, j0 = (p % a.groups) * a.gs;
    const float s = a.scales[p], z = a.zeros[p], m = a.magnitude ? a.magnitude[p] : 1.0f;
    const float maxq = (float)((1 << a.bits) - 1);
    double gs_acc = 0.0, gm_acc = 0.0;
    for (int64_t j = j0 + threadIdx.x; j < j0 + a.gs; j += blockDim.x) {
        const int64_t i = r * a.k + j;
        const float t = raw_code(a.w[i], s, z);
        const int clipped = t < 0.0f || t > maxq;
        const float q = t < 0.0f ? 0.0f : (t > maxq ? maxq : t);
        const float go = grad_out[i];
        if (grad_w) grad_w[i] = clipped ? 0.0f : __fmul_rn(go, m);
        const double qz = (double)__fsub_rn(q, z);
        gm_acc += (double)go * (double)s * qz;
        gs_acc += (double)go * (double)m * (clipped ? qz : qz - (double)a.w[i] / (double)s);
    }
    __shared__ double part_s[GROUP_THREADS / 32], part_m[GROUP_THREADS / 32];
    gs_acc = lb_warp_sum(gs_acc);
    gm_acc = lb_warp_sum(gm_acc);
    if ((threadIdx.x & 31) == 0) {
        part_s[threadIdx.x >> 5] = gs_acc;
        part_m[threadIdx.x >> 5] = gm_acc;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double ts = 0.0, tm = 0.0;
        for (int i = 0; i < GROUP_THREADS / 32; i++) {
            ts += part_s[i];
            tm += part_m[i];
        }
        if (grad_scales) grad_scales[p] = (float)ts;
        if (grad_magnitude) grad_magnitude[p] = (float)tm;
    }
}

extern "C" lb_status lb_cuda_fake_quant_backward(const float *w, int64_t n, int64_t k, int32_t bits, int32_t group_size,
                                                 const float *scales, const float *zeros, const float *magnitude,
                                                 const float *grad_out, float *grad_w, float *grad_scales,
                                                 float *grad_magnitude, cudaStream_t stream) {
    const char *what = "cuda_fake_quant_backward";
    fq_args a;
    lb_status st = check_args(what, w, n, k, bits, group_size, scales, zeros, magnitude, stream, &a);
    if (st) return st;
    if (!grad_out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: grad_out is NULL", what);
    backward_kernel<<<(unsigned)(n * a.groups), GROUP_THREADS, 0, stream>>>(a, grad_out, grad_w, grad_scales, grad_magnitude);
    return lb_cuda_launched(what);
}
