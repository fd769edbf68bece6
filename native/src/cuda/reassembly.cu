/* QLLM's channel reassembly on the GPU: the map is checked first (a thread per output channel,
 * the first bad one read back for the CPU's message), then a thread per output element gathers
 * (forward) or scatters with atomic adds (backward). */
#include "common.cuh"

#define THREADS 256

__global__ void check_map_kernel(int64_t k_in, const int32_t *ia, const int32_t *ib, const float *sa, const float *sb, int64_t k_out,
                                 unsigned long long *flag) {
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= k_out) return;
    if (ia[j] < 0 || ia[j] >= k_in || ib[j] < 0 || ib[j] >= k_in || !isfinite(sa[j]) || !isfinite(sb[j]))
        lb_flag_report(flag, (unsigned long long)j);
}

/* Synchronizes: LB_OK, or the CPU's error for the first bad output channel. */
static lb_status check_map(const char *what, const void *in, const void *out, int64_t m, int64_t k_in, const int32_t *ia,
                           const int32_t *ib, const float *sa, const float *sb, int64_t k_out, cudaStream_t stream) {
    if (!in || !ia || !ib || !sa || !sb || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || k_in <= 0 || k_out <= 0 || k_in > INT32_MAX)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: m, k_in and k_out must be positive (k_in < 2^31), got %lld, %lld, %lld", what,
                       (long long)m, (long long)k_in, (long long)k_out);
    lb_flag flag;
    unsigned long long first;
    lb_status st = lb_flag_open(&flag, stream, what);
    if (st) return st;
    check_map_kernel<<<lb_blocks(k_out, THREADS), THREADS, 0, stream>>>(k_in, ia, ib, sa, sb, k_out, flag.dev);
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    if (first == ~0ULL) return LB_OK;
    int32_t a = 0, b = 0;
    float fa = 0.0f, fb = 0.0f;
    LB_CUDA_TRY(cudaMemcpy(&a, ia + first, sizeof a, cudaMemcpyDeviceToHost), what);
    LB_CUDA_TRY(cudaMemcpy(&b, ib + first, sizeof b, cudaMemcpyDeviceToHost), what);
    LB_CUDA_TRY(cudaMemcpy(&fa, sa + first, sizeof fa, cudaMemcpyDeviceToHost), what);
    LB_CUDA_TRY(cudaMemcpy(&fb, sb + first, sizeof fb, cudaMemcpyDeviceToHost), what);
    st = lb_check_channel(what, (int64_t)first, a, b, fa, fb, k_in);
    return st ? st : lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: output channel %llu was reported bad but read back good (was the map changed meanwhile?)", what, first);
}

__global__ void reassemble_kernel(const float *x, int64_t m, int64_t k_in, const int32_t *ia, const int32_t *ib, const float *sa,
                                  const float *sb, int64_t k_out, float *out) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= m * k_out) return;
    const int64_t t = idx / k_out, j = idx % k_out;
    const float *xr = x + t * k_in;
    out[idx] = __fadd_rn(__fmul_rn(sa[j], xr[ia[j]]), __fmul_rn(sb[j], xr[ib[j]]));
}

__global__ void reassemble_backward_kernel(const float *dout, int64_t m, int64_t k_out, const int32_t *ia, const int32_t *ib,
                                           const float *sa, const float *sb, int64_t k_in, float *dx) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= m * k_out) return;
    const int64_t t = idx / k_out, j = idx % k_out;
    const float d = dout[idx];
    atomicAdd(dx + t * k_in + ia[j], __fmul_rn(sa[j], d));
    atomicAdd(dx + t * k_in + ib[j], __fmul_rn(sb[j], d));
}

extern "C" lb_status lb_cuda_channel_reassemble(const float *x, int64_t m, int64_t k_in, const int32_t *ia, const int32_t *ib,
                                                const float *sa, const float *sb, int64_t k_out, float *out, cudaStream_t stream) {
    const char *what = "cuda_channel_reassemble";
    lb_status st = check_map(what, x, out, m, k_in, ia, ib, sa, sb, k_out, stream);
    if (st) return st;
    reassemble_kernel<<<lb_blocks(m * k_out, THREADS), THREADS, 0, stream>>>(x, m, k_in, ia, ib, sa, sb, k_out, out);
    return lb_cuda_launched(what);
}

extern "C" lb_status lb_cuda_channel_reassemble_backward(const float *dout, int64_t m, int64_t k_out, const int32_t *ia,
                                                         const int32_t *ib, const float *sa, const float *sb, int64_t k_in, float *dx,
                                                         cudaStream_t stream) {
    const char *what = "cuda_channel_reassemble_backward";
    lb_status st = check_map(what, dout, dx, m, k_in, ia, ib, sa, sb, k_out, stream);
    if (st) return st;
    LB_CUDA_TRY(cudaMemsetAsync(dx, 0, (size_t)(m * k_in) * sizeof(float), stream), what);
    reassemble_backward_kernel<<<lb_blocks(m * k_out, THREADS), THREADS, 0, stream>>>(dout, m, k_out, ia, ib, sa, sb, k_in, dx);
    return lb_cuda_launched(what);
}
