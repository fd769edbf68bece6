/* Causal grouped-query attention on the GPU, for inference (a KV cache) and for training (batches
 * of sequences, with the softmax weights kept for the backward pass). A block per (query row, head)
 * holds the row's scores in shared memory: a warp per key for the dot products, the softmax summed
 * in double as the CPU, then the weighted sum of values with threads over head_dim (and over keys
 * where head_dim is smaller than the block). The backward pass writes dq from each query row's
 * block and dk, dv from each key row's block (no atomics), through a scratch of the score gradients. */
#include "common.cuh"

#define ATT_THREADS 128

/* dots[j] = a . row j for j < count, row j at base + j * stride; a warp per row. */
__device__ void row_dots(const float *a, const float *base, int64_t stride, int64_t count, int hd, float *dots) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int64_t j = warp; j < count; j += warps) {
        const float *r = base + j * stride;
        float acc = 0.0f;
        for (int e = lane; e < hd; e += 32) acc = fmaf(a[e], r[e], acc);
        acc = lb_warp_sum(acc);
        if (lane == 0) dots[j] = acc;
    }
    __syncthreads();
}

/* s[j] = softmax(scale * s)[j] for j < count, in place; the sum of exponentials in double. */
__device__ void softmax_in_place(float *s, int64_t count, float scale) {
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
        s[j] = __fmul_rn(s[j], scale);
        mx = fmaxf(mx, s[j]);
    }
    mx = lb_block_max(mx);
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
        s[j] = expf(__fsub_rn(s[j], mx));
        sum += s[j];
    }
    const float inv = __double2float_rn(1.0 / lb_block_sum(sum));
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) s[j] = __fmul_rn(s[j], inv);
    __syncthreads();
}

/* dst[e] (+)= sum over j < count of w[j] * row j [e], row j at base + j * stride. Threads split e and,
 * where hd is smaller than the block, the rows; red holds max(hd, blockDim.x) partial sums. */
__device__ void weighted_rows(const float *w, const float *base, int64_t stride, int64_t count, int hd, float *red, float *dst,
                              bool accumulate) {
    const int parts = hd < (int)blockDim.x ? (int)blockDim.x / hd : 1;
    for (int idx = threadIdx.x; idx < hd * parts; idx += blockDim.x) {
        const int e = idx % hd, part = idx / hd;
        float acc = 0.0f;
        for (int64_t j = part; j < count; j += parts) acc = fmaf(w[j], base[j * stride + e], acc);
        red[idx] = acc;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < hd; e += blockDim.x) {
        float s = accumulate ? dst[e] : 0.0f;
        for (int p = 0; p < parts; p++) s += red[p * hd + e];
        dst[e] = s;
    }
    __syncthreads();
}

/* The partial sums of weighted_rows. */
static int64_t red_floats(int64_t hd) { return hd > ATT_THREADS ? hd : ATT_THREADS; }

/* Shared memory of a block holding len scores, a head_dim vector and the partial sums. */
static size_t smem_bytes(int64_t len, int64_t hd) { return (size_t)(len + hd + red_floats(hd)) * sizeof(float); }

static float softmax_scale(int64_t hd) { return (float)(1.0 / sqrt((double)hd)); } /* as the CPU */

/* Lets kernel use bytes of dynamic shared memory for rows of keys (above 48 KB a kernel must ask);
 * LB_OK, or LB_ERR_UNSUPPORTED where the GPU allows less. */
template <typename K> static lb_status allow_smem(K kernel, size_t bytes, int64_t keys, const char *what) {
    if (bytes <= 48 * 1024) return LB_OK;
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    if (err == cudaSuccess) return LB_OK;
    cudaGetLastError();
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: %lld keys need %zu KB of shared memory per block, more than this GPU allows (%s)", what,
                   (long long)keys, bytes / 1024, cudaGetErrorString(err));
}

/* Query row blockIdx.x, head blockIdx.y. t > 0: training, the row's keys are those of its own
 * sequence of t rows up to itself, probs (if given) gets the weights; t == 0: inference, the keys of
 * positions 0 .. pos0 + row. */
__global__ void attention_kernel(const float *q, const float *k, const float *v, int64_t t, int64_t pos0, int heads, int kv_heads,
                                 int hd, int64_t len, float scale, float *out, float *probs) {
    extern __shared__ float smem[];
    float *sc = smem, *qv = sc + len, *red = qv + hd;
    const int64_t row = blockIdx.x, h = blockIdx.y, qw = (int64_t)heads * hd, kw = (int64_t)kv_heads * hd;
    const int64_t first = t ? row / t * t : 0, visible = t ? row % t + 1 : pos0 + row + 1;
    const int64_t kv_off = first * kw + h / (heads / kv_heads) * hd;
    for (int e = threadIdx.x; e < hd; e += blockDim.x) qv[e] = q[row * qw + h * hd + e];
    __syncthreads();
    row_dots(qv, k + kv_off, kw, visible, hd, sc);
    softmax_in_place(sc, visible, scale);
    weighted_rows(sc, v + kv_off, kw, visible, hd, red, out + row * qw + h * hd, false);
    if (probs) {
        float *p = probs + ((row / t * heads + h) * t + row % t) * t;
        for (int64_t j = threadIdx.x; j < t; j += blockDim.x) p[j] = j < visible ? sc[j] : 0.0f;
    }
}

static lb_status launch_attention(const char *what, const float *q, const float *k, const float *v, int64_t rows, int64_t t,
                                  int64_t pos0, int64_t heads, int64_t kv_heads, int64_t hd, int64_t len, float *out, float *probs,
                                  cudaStream_t stream) {
    if (!q || !k || !v || !out) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (rows > INT32_MAX || heads > 65535 || hd > INT32_MAX / 4)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %lld rows of %lld heads of %lld exceed the launch limits", what, (long long)rows,
                       (long long)heads, (long long)hd);
    const size_t bytes = smem_bytes(len, hd);
    lb_status st = allow_smem(attention_kernel, bytes, len, what);
    if (st) return st;
    dim3 grid((unsigned)rows, (unsigned)heads);
    attention_kernel<<<grid, ATT_THREADS, bytes, stream>>>(q, k, v, t, pos0, (int)heads, (int)kv_heads, (int)hd, len,
                                                            softmax_scale(hd), out, probs);
    return lb_cuda_launched(what);
}

extern "C" lb_status lb_cuda_attention(const float *q, const float *k, const float *v, int64_t m, int64_t pos0, int64_t heads,
                                       int64_t kv_heads, int64_t head_dim, float *out, cudaStream_t stream) {
    const char *what = "cuda_attention";
    lb_status st = lb_check_attention(what, m, pos0, heads, kv_heads, head_dim);
    if (st) return st;
    return launch_attention(what, q, k, v, m, 0, pos0, heads, kv_heads, head_dim, pos0 + m, out, NULL, stream);
}

extern "C" lb_status lb_cuda_attention_train(const float *q, const float *k, const float *v, int64_t b, int64_t t, int64_t heads,
                                             int64_t kv_heads, int64_t head_dim, float *out, float *probs, cudaStream_t stream) {
    const char *what = "cuda_attention_train";
    lb_status st = lb_check_attention_train(what, b, t, heads, kv_heads, head_dim);
    if (st) return st;
    return launch_attention(what, q, k, v, b * t, t, 0, heads, kv_heads, head_dim, t, out, probs, stream);
}

/* ---- backward ------------------------------------------------------------------------------ */

/* Query row blockIdx.x = (s, i), head blockIdx.y: ds[j] = p[j] (dout . v_j - sum_j' p[j'] dout . v_j') * scale
 * into the scratch (row (s, h, i) of ds, as probs is laid out) and dq_i = sum_j ds[j] k_j. */
__global__ void attention_dq_kernel(const float *k, const float *v, const float *probs, const float *dout, int64_t t, int heads,
                                    int kv_heads, int hd, float scale, float *ds, float *dq) {
    extern __shared__ float smem[];
    float *sc = smem, *go = sc + t, *red = go + hd;
    const int64_t row = blockIdx.x, h = blockIdx.y, qw = (int64_t)heads * hd, kw = (int64_t)kv_heads * hd;
    const int64_t s = row / t, i = row % t, kv_off = s * t * kw + h / (heads / kv_heads) * hd;
    const float *p = probs + ((s * heads + h) * t + i) * t;
    float *dsr = ds + ((s * heads + h) * t + i) * t;
    for (int e = threadIdx.x; e < hd; e += blockDim.x) go[e] = dout[row * qw + h * hd + e];
    __syncthreads();
    row_dots(go, v + kv_off, kw, i + 1, hd, sc); /* sc[j] = dout . v_j */
    double pdp = 0.0;
    for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) pdp += (double)p[j] * sc[j];
    const float sum = __double2float_rn(lb_block_sum(pdp));
    for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) {
        sc[j] = __fmul_rn(__fmul_rn(p[j], __fsub_rn(sc[j], sum)), scale);
        dsr[j] = sc[j];
    }
    __syncthreads();
    weighted_rows(sc, k + kv_off, kw, i + 1, hd, red, dq + row * qw + h * hd, false);
}

/* Key row blockIdx.x = (s, j), key/value head blockIdx.y: dk_j = sum over its query heads and rows
 * i >= j of ds[i][j] q_i, dv_j = the same of p[i][j] dout_i. */
__global__ void attention_dkv_kernel(const float *q, const float *probs, const float *dout, const float *ds, int64_t t, int heads,
                                     int kv_heads, int hd, float *dk, float *dv) {
    extern __shared__ float smem[];
    float *wds = smem, *wp = wds + t, *red = wp + t;
    const int64_t row = blockIdx.x, kvh = blockIdx.y, qw = (int64_t)heads * hd, kw = (int64_t)kv_heads * hd;
    const int64_t s = row / t, j = row % t, count = t - j, group = heads / kv_heads;
    for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
        const int64_t col = ((s * heads + h) * t + j) * t + j; /* entry (i = j, j) of head h's matrices */
        for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
            wds[r] = ds[col + r * t];
            wp[r] = probs[col + r * t];
        }
        __syncthreads();
        const bool acc = h > kvh * group;
        weighted_rows(wds, q + row * qw + h * hd, qw, count, hd, red, dk + row * kw + kvh * hd, acc);
        weighted_rows(wp, dout + row * qw + h * hd, qw, count, hd, red, dv + row * kw + kvh * hd, acc);
    }
}

extern "C" lb_status lb_cuda_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                                                const float *dout, int64_t b, int64_t t, int64_t heads, int64_t kv_heads,
                                                int64_t head_dim, float *dq, float *dk, float *dv, cudaStream_t stream) {
    const char *what = "cuda_attention_backward";
    if (!q || !k || !v || !probs || !dout || !dq || !dk || !dv) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    lb_status st = lb_check_attention_train(what, b, t, heads, kv_heads, head_dim);
    if (st) return st;
    if (b * t > INT32_MAX || heads > 65535 || head_dim > INT32_MAX / 4)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %lld rows of %lld heads exceed the launch limits", what, (long long)(b * t),
                       (long long)heads);
    const size_t dq_bytes = smem_bytes(t, head_dim), dkv_bytes = (size_t)(2 * t + red_floats(head_dim)) * sizeof(float);
    if ((st = allow_smem(attention_dq_kernel, dq_bytes, t, what)) || (st = allow_smem(attention_dkv_kernel, dkv_bytes, t, what)))
        return st;
    float *ds = NULL;
    LB_CUDA_TRY(cudaMallocAsync((void **)&ds, (size_t)(b * heads * t * t) * sizeof(float), stream), what);
    attention_dq_kernel<<<dim3((unsigned)(b * t), (unsigned)heads), ATT_THREADS, dq_bytes, stream>>>(
        k, v, probs, dout, t, (int)heads, (int)kv_heads, (int)head_dim, softmax_scale(head_dim), ds, dq);
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess)
        attention_dkv_kernel<<<dim3((unsigned)(b * t), (unsigned)kv_heads), ATT_THREADS, dkv_bytes, stream>>>(
            q, probs, dout, ds, t, (int)heads, (int)kv_heads, (int)head_dim, dk, dv);
    if (err == cudaSuccess) err = cudaGetLastError();
    cudaFreeAsync(ds, stream);
    return err == cudaSuccess ? lb_cuda_launched(what) : lb_cuda_fail(err, what);
}
