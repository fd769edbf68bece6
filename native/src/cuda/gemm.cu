/* Fused dequant-GEMM y = x . dequant(W)^T + bias.
 *  - m <= LB_SMALL_M: a warp per weight row streams the row's code words once (coalesced, each lane a
 *    word at a time) and multiplies every activation row with the dequantized codes; x is read
 *    through the caches. Any bit width; 2/4/8 bits unpack whole words.
 *  - larger m: tensor cores (WMMA): 64 x 64 output tiles, the weight tile dequantized into shared
 *    memory in x's type (fp32 x: TF32), fp32 accumulation.
 * The canonical layout is read directly (no repacked copy). */
#include "common.cuh"

#include <mma.h>

using namespace nvcuda;

#define GEMV_WARPS 8

/* Dequantized weight code (q - z) * s. */
__device__ __forceinline__ float dq(uint32_t q, float s, float z) { return ((float)q - z) * s; }

template <typename XT, int BITS>
__global__ void gemv_kernel(const XT *x, int m, lb_qweight q, const float *bias, float *y) {
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (r >= q.n) return;
    const int64_t k = q.k, gs = q.group_size, groups = k / gs, wpr = lb_words_per_row(k, q.bits);
    const uint32_t *row = q.codes + r * wpr;
    float acc[LB_SMALL_M];
#pragma unroll
    for (int i = 0; i < LB_SMALL_M; i++) acc[i] = 0.0f;
    if constexpr (BITS != 0) {
        constexpr int PER_WORD = 32 / BITS;
        constexpr uint32_t MASK = (1u << BITS) - 1u;
        const int64_t full = k / PER_WORD; /* words whose codes are all inside the row */
        for (int64_t wd = lane; wd < full; wd += 32) {
            const uint32_t word = __ldg(row + wd);
            const int64_t j0 = wd * PER_WORD, p = r * groups + j0 / gs; /* a word never spans two groups */
            const float s = lb_load_param(q.scales, q.scale_dtype, p), z = lb_load_param(q.zeros, q.scale_dtype, p);
#pragma unroll
            for (int c = 0; c < PER_WORD; c++) {
                const float wv = dq((word >> (c * BITS)) & MASK, s, z);
#pragma unroll
                for (int i = 0; i < LB_SMALL_M; i++)
                    if (i < m) acc[i] += lb_to_float(x[(int64_t)i * k + j0 + c]) * wv;
            }
        }
        for (int64_t j = full * PER_WORD + lane; j < k; j += 32) { /* the tail of a per-channel row */
            const int64_t p = r * groups + j / gs;
            const float wv = dq(lb_get_code(row, j, BITS), lb_load_param(q.scales, q.scale_dtype, p),
                                lb_load_param(q.zeros, q.scale_dtype, p));
#pragma unroll
            for (int i = 0; i < LB_SMALL_M; i++)
                if (i < m) acc[i] += lb_to_float(x[(int64_t)i * k + j]) * wv;
        }
    } else {
        for (int64_t j = lane; j < k; j += 32) {
            const int64_t p = r * groups + j / gs;
            const float wv = dq(lb_get_code(row, j, q.bits), lb_load_param(q.scales, q.scale_dtype, p),
                                lb_load_param(q.zeros, q.scale_dtype, p));
#pragma unroll
            for (int i = 0; i < LB_SMALL_M; i++)
                if (i < m) acc[i] += lb_to_float(x[(int64_t)i * k + j]) * wv;
        }
    }
#pragma unroll
    for (int i = 0; i < LB_SMALL_M; i++) {
        if (i >= m) break;
        const float v = lb_warp_sum(acc[i]);
        if (lane == 0) y[(int64_t)i * q.n + r] = v + (bias ? bias[r] : 0.0f);
    }
}

/* ---- tensor-core path --------------------------------------------------------------------- */

#define TILE_M 64
#define TILE_N 64
#define TILE_K 32
#define PAD 8

/* Per activation type: what the tiles hold in shared memory and the WMMA fragment shape. */
template <typename XT> struct mma_traits;
template <> struct mma_traits<float> {
    typedef float smem_t;
    typedef wmma::precision::tf32 frag_t;
    static constexpr int FK = 8;
    __device__ static smem_t from_float(float v) { return v; }
};
template <> struct mma_traits<__half> {
    typedef __half smem_t;
    typedef __half frag_t;
    static constexpr int FK = 16;
    __device__ static smem_t from_float(float v) { return __float2half_rn(v); }
};
template <> struct mma_traits<__nv_bfloat16> {
    typedef __nv_bfloat16 smem_t;
    typedef __nv_bfloat16 frag_t;
    static constexpr int FK = 16;
    __device__ static smem_t from_float(float v) { return __float2bfloat16_rn(v); }
};

/* 4 warps, each a 32 x 32 quarter of the 64 x 64 tile of y. */
template <typename XT>
__global__ void __launch_bounds__(128) mma_kernel(const XT *x, int64_t m, lb_qweight q, const float *bias, float *y) {
    typedef mma_traits<XT> T;
    typedef typename T::smem_t S;
    constexpr int FK = T::FK;
    __shared__ __align__(32) S a_tile[TILE_M][TILE_K + PAD]; /* x rows i, columns k */
    __shared__ __align__(32) S b_tile[TILE_N][TILE_K + PAD]; /* weight rows n, columns k: B col-major */
    __shared__ __align__(32) float c_tile[TILE_M][TILE_N + 4];
    const int64_t k = q.k, gs = q.group_size, groups = k / gs, wpr = lb_words_per_row(k, q.bits);
    const int64_t i0 = (int64_t)blockIdx.y * TILE_M, n0 = (int64_t)blockIdx.x * TILE_N;
    const int warp = threadIdx.x >> 5, wm = warp >> 1, wn = warp & 1;
    wmma::fragment<wmma::accumulator, 16, 16, FK, float> acc[2][2];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) wmma::fill_fragment(acc[a][b], 0.0f);
    for (int64_t k0 = 0; k0 < k; k0 += TILE_K) {
        for (int e = threadIdx.x; e < TILE_M * TILE_K; e += blockDim.x) {
            const int ii = e / TILE_K, kk = e % TILE_K;
            const int64_t i = i0 + ii, j = k0 + kk;
            a_tile[ii][kk] = i < m && j < k ? T::from_float(lb_to_float(x[i * k + j])) : T::from_float(0.0f);
        }
        for (int e = threadIdx.x; e < TILE_N * TILE_K; e += blockDim.x) {
            const int nn = e / TILE_K, kk = e % TILE_K;
            const int64_t r = n0 + nn, j = k0 + kk;
            float v = 0.0f;
            if (r < q.n && j < k) {
                const int64_t p = r * groups + j / gs;
                v = dq(lb_get_code(q.codes + r * wpr, j, q.bits), lb_load_param(q.scales, q.scale_dtype, p),
                       lb_load_param(q.zeros, q.scale_dtype, p));
            }
            b_tile[nn][kk] = T::from_float(v);
        }
        __syncthreads();
        for (int kk = 0; kk < TILE_K; kk += FK) {
            wmma::fragment<wmma::matrix_a, 16, 16, FK, typename T::frag_t, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, FK, typename T::frag_t, wmma::col_major> fb[2];
            for (int a = 0; a < 2; a++) {
                wmma::load_matrix_sync(fa[a], &a_tile[wm * 32 + a * 16][kk], TILE_K + PAD);
                wmma::load_matrix_sync(fb[a], &b_tile[wn * 32 + a * 16][kk], TILE_K + PAD);
                if constexpr (FK == 8) {
                    for (int t = 0; t < fa[a].num_elements; t++) fa[a].x[t] = wmma::__float_to_tf32(fa[a].x[t]);
                    for (int t = 0; t < fb[a].num_elements; t++) fb[a].x[t] = wmma::__float_to_tf32(fb[a].x[t]);
                }
            }
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) wmma::mma_sync(acc[a][b], fa[a], fb[b], acc[a][b]);
        }
        __syncthreads();
    }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            wmma::store_matrix_sync(&c_tile[wm * 32 + a * 16][wn * 32 + b * 16], acc[a][b], TILE_N + 4, wmma::mem_row_major);
    __syncthreads();
    for (int e = threadIdx.x; e < TILE_M * TILE_N; e += blockDim.x) {
        const int ii = e / TILE_N, nn = e % TILE_N;
        const int64_t i = i0 + ii, r = n0 + nn;
        if (i < m && r < q.n) y[i * q.n + r] = c_tile[ii][nn] + (bias ? bias[r] : 0.0f);
    }
}

template <typename XT> static void launch(const void *xv, int64_t m, const lb_qweight *w, const float *bias, float *y,
                                          cudaStream_t stream) {
    const XT *x = (const XT *)xv;
    if (m <= LB_SMALL_M) {
        const unsigned blocks = lb_blocks(w->n, GEMV_WARPS);
        switch (w->bits) {
        case 2: gemv_kernel<XT, 2><<<blocks, GEMV_WARPS * 32, 0, stream>>>(x, (int)m, *w, bias, y); break;
        case 4: gemv_kernel<XT, 4><<<blocks, GEMV_WARPS * 32, 0, stream>>>(x, (int)m, *w, bias, y); break;
        case 8: gemv_kernel<XT, 8><<<blocks, GEMV_WARPS * 32, 0, stream>>>(x, (int)m, *w, bias, y); break;
        default: gemv_kernel<XT, 0><<<blocks, GEMV_WARPS * 32, 0, stream>>>(x, (int)m, *w, bias, y); break;
        }
    } else {
        dim3 grid(lb_blocks(w->n, TILE_N), lb_blocks(m, TILE_M));
        mma_kernel<XT><<<grid, 128, 0, stream>>>(x, m, *w, bias, y);
    }
}

extern "C" lb_status lb_cuda_dequant_gemm(const void *x, int32_t x_dtype, int64_t m, const lb_qweight *w, const float *bias,
                                          float *y, cudaStream_t stream) {
    const char *what = "cuda_dequant_gemm";
    lb_status st = lb_check_qweight(w, what, 1);
    if (st) return st;
    if (!x || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: x or y is NULL", what);
    if (m <= 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: m must be positive, got %lld", what, (long long)m);
    if (m > 65535LL * TILE_M || w->n > 2147483647LL)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: m = %lld exceeds %lld rows per call; split the batch", what, (long long)m,
                       65535LL * TILE_M);
    switch (x_dtype) {
    case LB_DTYPE_F32: launch<float>(x, m, w, bias, y, stream); break;
    case LB_DTYPE_F16: launch<__half>(x, m, w, bias, y, stream); break;
    case LB_DTYPE_BF16: launch<__nv_bfloat16>(x, m, w, bias, y, stream); break;
    default: return lb_fail(LB_ERR_UNSUPPORTED, "%s: activation dtype %d is not supported (fp32, fp16, bf16)", what, (int)x_dtype);
    }
    return lb_cuda_launched(what);
}
