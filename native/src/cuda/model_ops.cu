/* The transformer's row-wise and element-wise ops and their backward passes on the GPU: a block
 * per row for RMSNorm and the softmax family, a thread per element (or rotation pair) otherwise.
 * Where the CPU sums in double, so does the GPU; products are written with explicit rounding so
 * nvcc cannot contract them into FMAs the CPU build (-ffp-contract=off) does not use. */
#include "common.cuh"

#define ROW_THREADS 256
#define ELEMENT_THREADS 256

/* ---- RMSNorm ---------------------------------------------------------------------------- */

__global__ void rmsnorm_kernel(const float *x, const float *w, int64_t d, float eps, float *y, float *inv_rms) {
    const int64_t i = blockIdx.x;
    const float *xr = x + i * d;
    double ss = 0.0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) ss = __dadd_rn(ss, __dmul_rn((double)xr[j], (double)xr[j]));
    ss = lb_block_sum(ss); /* every read of the row is done: y may alias x */
    const float r = __double2float_rn(1.0 / sqrt(ss / (double)d + (double)eps));
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) y[i * d + j] = __fmul_rn(__fmul_rn(xr[j], r), w[j]);
    if (inv_rms && threadIdx.x == 0) inv_rms[i] = r;
}

extern "C" lb_status lb_cuda_rmsnorm(const float *x, const float *w, int64_t m, int64_t d, float eps, float *y, float *inv_rms,
                                     cudaStream_t stream) {
    const char *what = "cuda_rmsnorm";
    lb_status st = lb_check_rows(what, x, y, m, d);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: weight is NULL", what);
    if (!(eps > 0.0f)) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: eps must be positive, got %g", what, (double)eps);
    if (m > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 rows", what);
    rmsnorm_kernel<<<(unsigned)m, ROW_THREADS, 0, stream>>>(x, w, d, eps, y, inv_rms);
    return lb_cuda_launched(what);
}

/* dx = r (w dy) - x r^3 mean(x w dy) per row, in double as the CPU. */
__global__ void rmsnorm_dx_kernel(const float *x, const float *w, const float *inv_rms, const float *dy, int64_t d, float *dx) {
    const int64_t i = blockIdx.x;
    const float *xr = x + i * d, *g = dy + i * d;
    const double r = inv_rms[i];
    double dot = 0.0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
        dot = __dadd_rn(dot, __dmul_rn(__dmul_rn((double)xr[j], (double)w[j]), (double)g[j]));
    dot = lb_block_sum(dot);
    const double c = __ddiv_rn(__dmul_rn(__dmul_rn(__dmul_rn(r, r), r), dot), (double)d);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
        dx[i * d + j] = __double2float_rn(__dsub_rn(__dmul_rn(__dmul_rn(r, (double)w[j]), (double)g[j]), __dmul_rn((double)xr[j], c)));
}

/* dw[j] += x r dy over the rows in order, a thread per column (the CPU's order of additions). */
__global__ void rmsnorm_dw_kernel(const float *x, const float *inv_rms, const float *dy, int64_t m, int64_t d, float *dw) {
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    float acc = dw[j];
    for (int64_t i = 0; i < m; i++)
        acc = __fadd_rn(acc, __double2float_rn(__dmul_rn(__dmul_rn((double)x[i * d + j], (double)inv_rms[i]), (double)dy[i * d + j])));
    dw[j] = acc;
}

extern "C" lb_status lb_cuda_rmsnorm_backward(const float *x, const float *w, const float *inv_rms, const float *dy, int64_t m,
                                              int64_t d, float *dx, float *dw, cudaStream_t stream) {
    const char *what = "cuda_rmsnorm_backward";
    if (!x || !w || !inv_rms || !dy || !dx || !dw) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    lb_status st = lb_check_rows(what, x, dx, m, d);
    if (st) return st;
    if (m > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 rows", what);
    /* dw first: dx may alias dy */
    rmsnorm_dw_kernel<<<lb_blocks(d, ELEMENT_THREADS), ELEMENT_THREADS, 0, stream>>>(x, inv_rms, dy, m, d, dw);
    rmsnorm_dx_kernel<<<(unsigned)m, ROW_THREADS, 0, stream>>>(x, w, inv_rms, dy, d, dx);
    return lb_cuda_launched(what);
}

/* ---- rotary embedding ---------------------------------------------------------------------- */

/* A thread per (row, pair) turns that pair in every head; sign -1 turns backwards (the gradient). */
__global__ void rope_kernel(float *x, int64_t m, int64_t heads, int64_t hd, int64_t pos0, int64_t period, float theta, float sign) {
    const int64_t pairs = hd / 2, idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= m * pairs) return;
    const int64_t r = idx / pairs, i = 2 * (idx % pairs);
    const double angle = (double)(pos0 + r % period) * pow((double)theta, -(double)i / (double)hd);
    const float c = __double2float_rn(cos(angle)), s = sign * __double2float_rn(sin(angle));
    for (int64_t h = 0; h < heads; h++) {
        float *p = x + (r * heads + h) * hd + i;
        const float a = p[0], b = p[1];
        p[0] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        p[1] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
    }
}

static lb_status rope(const char *what, float *x, int64_t m, int64_t heads, int64_t hd, int64_t pos0, int64_t period, float theta,
                      float sign, cudaStream_t stream) {
    lb_status st = lb_check_rope(what, x, m, heads, hd, pos0, period, theta);
    if (st) return st;
    rope_kernel<<<lb_blocks(m * (hd / 2), ELEMENT_THREADS), ELEMENT_THREADS, 0, stream>>>(x, m, heads, hd, pos0, period, theta, sign);
    return lb_cuda_launched(what);
}

extern "C" lb_status lb_cuda_rope(float *x, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period, float theta,
                                  cudaStream_t stream) {
    return rope("cuda_rope", x, m, heads, head_dim, pos0, period, theta, 1.0f, stream);
}

extern "C" lb_status lb_cuda_rope_backward(float *dx, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period,
                                           float theta, cudaStream_t stream) {
    return rope("cuda_rope_backward", dx, m, heads, head_dim, pos0, period, theta, -1.0f, stream);
}

/* ---- SiLU gate and the residual add --------------------------------------------------------- */

__device__ __forceinline__ float sigmoid(float g) { return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-g))); }

__global__ void silu_gate_kernel(const float *gate, const float *up, int64_t n, float *out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = gate[i];
    out[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up[i]);
}

__global__ void silu_gate_backward_kernel(const float *gate, const float *up, const float *dout, int64_t n, float *dgate, float *dup) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = gate[i], u = up[i], d = dout[i], sig = sigmoid(g);
    dgate[i] = __fmul_rn(__fmul_rn(__fmul_rn(d, u), sig), __fadd_rn(1.0f, __fmul_rn(g, __fsub_rn(1.0f, sig))));
    dup[i] = __fmul_rn(__fmul_rn(d, g), sig);
}

extern "C" lb_status lb_cuda_silu_gate(const float *gate, const float *up, int64_t n, float *out, cudaStream_t stream) {
    const char *what = "cuda_silu_gate";
    lb_status st = lb_check_rows(what, gate, up, 1, n);
    if (st) return st;
    if (!out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: output is NULL", what);
    silu_gate_kernel<<<lb_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, stream>>>(gate, up, n, out);
    return lb_cuda_launched(what);
}

extern "C" lb_status lb_cuda_silu_gate_backward(const float *gate, const float *up, const float *dout, int64_t n, float *dgate,
                                                float *dup, cudaStream_t stream) {
    const char *what = "cuda_silu_gate_backward";
    if (!gate || !up || !dout || !dgate || !dup) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (n <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: n must be positive", what);
    silu_gate_backward_kernel<<<lb_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, stream>>>(gate, up, dout, n, dgate, dup);
    return lb_cuda_launched(what);
}

__global__ void add_into_kernel(const float *x, int64_t n, float *acc) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) acc[i] = __fadd_rn(acc[i], x[i]);
}

extern "C" lb_status lb_cuda_add_into(const float *x, int64_t n, float *acc, cudaStream_t stream) {
    const char *what = "cuda_add_into";
    lb_status st = lb_check_rows(what, x, acc, 1, n);
    if (st) return st;
    add_into_kernel<<<lb_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, stream>>>(x, n, acc);
    return lb_cuda_launched(what);
}

/* ---- log-softmax and cross-entropy ------------------------------------------------------------- */

/* The CPU's lb_row_logsumexp over a block: the row's max, and the log of the sum of exp(x - max) in double. */
__device__ void row_logsumexp(const float *x, int64_t n, float *mx, double *lse) {
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, x[j]);
    m = lb_block_max(m);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s = __dadd_rn(s, exp((double)__fsub_rn(x[j], m)));
    *mx = m;
    *lse = log(lb_block_sum(s)); /* every read of the row is done: the caller may overwrite it */
}

__global__ void log_softmax_kernel(const float *x, int64_t n, float *out) {
    const int64_t i = blockIdx.x;
    float mx;
    double lse;
    row_logsumexp(x + i * n, n, &mx, &lse);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        out[i * n + j] = __double2float_rn(__dsub_rn((double)__fsub_rn(x[i * n + j], mx), lse));
}

/* A row whose target is outside [0, vocab) is reported in flag and left alone. Otherwise the row's
 * loss into losses[i] where losses is given, else scale * (softmax - onehot) into dlogits' row. */
__global__ void cross_entropy_kernel(const float *logits, const int32_t *targets, int64_t vocab, float *losses, float scale,
                                     float *dlogits, unsigned long long *flag) {
    const int64_t i = blockIdx.x;
    const int32_t target = targets[i];
    if (target < 0 || target >= vocab) { /* the same for the whole block: no thread waits at a barrier */
        if (threadIdx.x == 0) lb_flag_report(flag, (unsigned long long)i);
        return;
    }
    const float *x = logits + i * vocab;
    float mx;
    double lse;
    row_logsumexp(x, vocab, &mx, &lse);
    if (losses) {
        if (threadIdx.x == 0) losses[i] = __double2float_rn(__dsub_rn(lse, (double)__fsub_rn(x[target], mx)));
        return;
    }
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
        const double p = exp(__dsub_rn((double)__fsub_rn(x[j], mx), lse));
        dlogits[i * vocab + j] = __double2float_rn(__dmul_rn(__dsub_rn(p, j == target ? 1.0 : 0.0), (double)scale));
    }
}

extern "C" lb_status lb_cuda_log_softmax(const float *x, int64_t m, int64_t n, float *out, cudaStream_t stream) {
    const char *what = "cuda_log_softmax";
    lb_status st = lb_check_rows(what, x, out, m, n);
    if (st) return st;
    if (m > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 rows", what);
    log_softmax_kernel<<<(unsigned)m, ROW_THREADS, 0, stream>>>(x, n, out);
    return lb_cuda_launched(what);
}

static lb_status cross_entropy(const char *what, const float *logits, const int32_t *targets, int64_t m, int64_t vocab,
                               float *losses, float scale, float *dlogits, cudaStream_t stream) {
    lb_status st = lb_check_rows(what, logits, losses ? (const void *)losses : (const void *)dlogits, m, vocab);
    if (st) return st;
    if (!targets) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: targets are NULL", what);
    if (m > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 rows", what);
    lb_flag flag;
    unsigned long long first;
    if ((st = lb_flag_open(&flag, stream, what))) return st;
    cross_entropy_kernel<<<(unsigned)m, ROW_THREADS, 0, stream>>>(logits, targets, vocab, losses, scale, dlogits, flag.dev);
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    if (first != ~0ULL) {
        int32_t target = 0;
        cudaMemcpy(&target, targets + first, sizeof target, cudaMemcpyDeviceToHost); /* for the message only */
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: target %d of row %llu is outside [0, %lld)", what, (int)target, first,
                       (long long)vocab);
    }
    lb_clear_error();
    return LB_OK;
}

extern "C" lb_status lb_cuda_cross_entropy(const float *logits, const int32_t *targets, int64_t m, int64_t vocab, float *losses,
                                           cudaStream_t stream) {
    return cross_entropy("cuda_cross_entropy", logits, targets, m, vocab, losses, 0.0f, NULL, stream);
}

extern "C" lb_status lb_cuda_cross_entropy_backward(const float *logits, const int32_t *targets, int64_t m, int64_t vocab,
                                                    float scale, float *dlogits, cudaStream_t stream) {
    return cross_entropy("cuda_cross_entropy_backward", logits, targets, m, vocab, NULL, scale, dlogits, stream);
}
