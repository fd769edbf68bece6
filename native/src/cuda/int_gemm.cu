/* Integer GEMM of per-token quantized activations (u8 codes) with 4- or 8-bit weights.
 *  - m <= LB_SMALL_M (decode): a warp per weight row and 8 activation rows; each lane takes whole code
 *    words and forms their exact integer contribution sum (qa - za)(qw - zw) with dp4a (4-bit nibbles
 *    split into even and odd bytes), then scales it by sw * sa into an fp32 sum. Per-word rather
 *    than per-group scaling: results match the CPU's (exact per group, double) to fp32 rounding.
 *  - larger m: int8 tensor cores (WMMA u8 x u8 -> s32, 64 x 64 output tiles). The raw products
 *    sum qa qw of each group are exact in int32; at the group's end the zero points are taken out
 *    with the code sums (sum qa per activation row and group, sum qw = lb_cuda_weight_code_sums)
 *    and the group is scaled by sw into an fp32 sum, which is scaled by sa at the end. */
#include "common.cuh"

#include <mma.h>

using namespace nvcuda;

#define ROWS_PER_BLOCK 8 /* weight rows: one warp each */
#define ACT_ROWS 8       /* activation rows per warp */

template <int BITS>
__global__ void int_gemm_kernel(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m, lb_qweight q,
                                const float *bias, float *y) {
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), i0 = (int64_t)blockIdx.y * ACT_ROWS;
    if (r >= q.n) return;
    const int64_t k = q.k, gs = q.group_size, groups = k / gs, wpr = lb_words_per_row(k, BITS);
    const int rows = m - i0 < ACT_ROWS ? (int)(m - i0) : ACT_ROWS;
    const uint32_t *row = q.codes + r * wpr;
    int za[ACT_ROWS];
    float acc[ACT_ROWS], sa[ACT_ROWS];
#pragma unroll
    for (int i = 0; i < ACT_ROWS; i++) {
        acc[i] = 0.0f;
        sa[i] = i < rows ? a_scales[i0 + i] : 0.0f;
        za[i] = i < rows ? (int)a_zeros[i0 + i] : 0;
    }
    const uint32_t ones = 0x01010101u;
    if (k % 32 == 0) {
        constexpr int PER_WORD = 32 / BITS;
        for (int64_t wd = lane; wd < wpr; wd += 32) {
            const uint32_t word = __ldg(row + wd);
            const int64_t j0 = wd * PER_WORD, p = r * groups + j0 / gs;
            const float sw = lb_load_param(q.scales, q.scale_dtype, p);
            const int zw = (int)lb_load_param(q.zeros, q.scale_dtype, p);
            if constexpr (BITS == 4) {
                const uint32_t even = word & 0x0F0F0F0Fu, odd = (word >> 4) & 0x0F0F0F0Fu;
                const int wsum = (int)(__dp4a(even, ones, 0u) + __dp4a(odd, ones, 0u));
#pragma unroll
                for (int i = 0; i < ACT_ROWS; i++) {
                    if (i >= rows) break;
                    const uint2 a = *(const uint2 *)(a_codes + (i0 + i) * k + j0);
                    const uint32_t ae = __byte_perm(a.x, a.y, 0x6420), ao = __byte_perm(a.x, a.y, 0x7531);
                    const int dot = (int)(__dp4a(even, ae, 0u) + __dp4a(odd, ao, 0u));
                    const int asum = (int)(__dp4a(a.x, ones, 0u) + __dp4a(a.y, ones, 0u));
                    acc[i] += sw * sa[i] * (float)(dot - zw * asum - za[i] * wsum + PER_WORD * za[i] * zw);
                }
            } else {
                const int wsum = (int)__dp4a(word, ones, 0u);
#pragma unroll
                for (int i = 0; i < ACT_ROWS; i++) {
                    if (i >= rows) break;
                    const uint32_t a = *(const uint32_t *)(a_codes + (i0 + i) * k + j0);
                    const int dot = (int)__dp4a(word, a, 0u), asum = (int)__dp4a(a, ones, 0u);
                    acc[i] += sw * sa[i] * (float)(dot - zw * asum - za[i] * wsum + PER_WORD * za[i] * zw);
                }
            }
        }
    } else { /* a per-channel row whose length is not a multiple of 32: code by code */
        for (int64_t j = lane; j < k; j += 32) {
            const int64_t p = r * groups + j / gs;
            const float sw = lb_load_param(q.scales, q.scale_dtype, p);
            const int qw = (int)lb_get_code(row, j, BITS) - (int)lb_load_param(q.zeros, q.scale_dtype, p);
#pragma unroll
            for (int i = 0; i < ACT_ROWS; i++) {
                if (i >= rows) break;
                acc[i] += sw * sa[i] * (float)(((int)a_codes[(i0 + i) * k + j] - za[i]) * qw);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ACT_ROWS; i++) {
        if (i >= rows) break;
        const float v = lb_warp_sum(acc[i]);
        if (lane == 0) y[(i0 + i) * q.n + r] = v + (bias ? bias[r] : 0.0f);
    }
}

/* ---- tensor-core path ------------------------------------------------------------------------ */

#define TC_M 64
#define TC_N 64
#define TC_K 32  /* two 16-deep WMMA steps per tile load */
#define TC_LD 32 /* bytes per row of a step's plane: 16 codes and 16 of padding (fragment pointers 32-byte aligned) */
#define TC_THREADS 128

/* asums [m, groups]: the sum of each activation row's codes over each weight group. */
__global__ void activation_group_sums_kernel(const uint8_t *a_codes, int64_t m, int64_t k, int64_t gs, int32_t *asums) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, groups = k / gs;
    if (idx >= m * groups) return;
    const uint8_t *a = a_codes + idx / groups * k + idx % groups * gs;
    int32_t sum = 0;
    for (int64_t j = 0; j < gs; j++) sum += a[j];
    asums[idx] = sum;
}

/* 4 warps, each a 32 x 32 quarter of the 64 x 64 tile of y; the fp32 sum over groups of each output
 * lives in shared memory, updated by one thread (e = threadIdx.x + 128 t). Needs k and the group
 * size multiples of TC_K. */
template <int BITS>
__global__ void __launch_bounds__(TC_THREADS) int_mma_kernel(const uint8_t *a_codes, const float *a_scales, const float *a_zeros,
                                                             const int32_t *asums, int64_t m, lb_qweight q, const int32_t *wsums,
                                                             const float *bias, float *y) {
    __shared__ __align__(32) uint8_t a_tile[2][TC_M][TC_LD]; /* [step][activation row][k] */
    __shared__ __align__(32) uint8_t b_tile[2][TC_N][TC_LD]; /* [step][weight row][k]: B column-major */
    __shared__ __align__(32) int c_tile[TC_M][TC_N + 4];
    __shared__ float acc[TC_M][TC_N];
    const int64_t k = q.k, gs = q.group_size, groups = k / gs, wpr = lb_words_per_row(k, BITS);
    const int64_t i0 = (int64_t)blockIdx.y * TC_M, n0 = (int64_t)blockIdx.x * TC_N;
    const int warp = threadIdx.x >> 5, wm = warp >> 1, wn = warp & 1;
    for (int e = threadIdx.x; e < TC_M * TC_N; e += TC_THREADS) acc[e / TC_N][e % TC_N] = 0.0f;
    wmma::fragment<wmma::accumulator, 16, 16, 16, int> d[2][2];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) wmma::fill_fragment(d[a][b], 0);
    for (int64_t k0 = 0; k0 < k; k0 += TC_K) {
        for (int e = threadIdx.x; e < TC_M * TC_K / 4; e += blockDim.x) { /* 4 codes at a time */
            const int ii = e / (TC_K / 4), kk = e % (TC_K / 4) * 4;
            const int64_t i = i0 + ii;
            *(uint32_t *)&a_tile[kk / 16][ii][kk % 16] = i < m ? *(const uint32_t *)(a_codes + i * k + k0 + kk) : 0u;
        }
        for (int e = threadIdx.x; e < TC_N * TC_K; e += blockDim.x) {
            const int nn = e / TC_K, kk = e % TC_K;
            const int64_t r = n0 + nn;
            b_tile[kk / 16][nn][kk % 16] = r < q.n ? (uint8_t)lb_get_code(q.codes + r * wpr, k0 + kk, BITS) : 0;
        }
        __syncthreads();
        for (int step = 0; step < 2; step++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, unsigned char, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, unsigned char, wmma::col_major> fb[2];
            for (int a = 0; a < 2; a++) {
                wmma::load_matrix_sync(fa[a], &a_tile[step][wm * 32 + a * 16][0], TC_LD);
                wmma::load_matrix_sync(fb[a], &b_tile[step][wn * 32 + a * 16][0], TC_LD);
            }
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) wmma::mma_sync(d[a][b], fa[a], fb[b], d[a][b]);
        }
        __syncthreads();
        if ((k0 + TC_K) % gs) continue;
        const int64_t g = (k0 + TC_K) / gs - 1; /* group g ends here: take out the zero points, scale by sw */
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                wmma::store_matrix_sync(&c_tile[wm * 32 + a * 16][wn * 32 + b * 16], d[a][b], TC_N + 4, wmma::mem_row_major);
                wmma::fill_fragment(d[a][b], 0);
            }
        __syncthreads();
        for (int e = threadIdx.x; e < TC_M * TC_N; e += TC_THREADS) {
            const int ii = e / TC_N, nn = e % TC_N;
            const int64_t i = i0 + ii, r = n0 + nn;
            if (i >= m || r >= q.n) continue;
            const int64_t p = r * groups + g, za = (int64_t)a_zeros[i], zw = (int64_t)lb_load_param(q.zeros, q.scale_dtype, p);
            const int64_t dot = c_tile[ii][nn] - zw * asums[i * groups + g] - za * wsums[p] + gs * za * zw;
            acc[ii][nn] += lb_load_param(q.scales, q.scale_dtype, p) * (float)dot;
        }
        __syncthreads();
    }
    for (int e = threadIdx.x; e < TC_M * TC_N; e += TC_THREADS) {
        const int ii = e / TC_N, nn = e % TC_N;
        const int64_t i = i0 + ii, r = n0 + nn;
        if (i < m && r < q.n) y[i * q.n + r] = acc[ii][nn] * a_scales[i] + (bias ? bias[r] : 0.0f);
    }
}

/* The tensor-core path with its code sums in stream-ordered scratch (w_sums computed when NULL). */
static lb_status int_mma(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m, const lb_qweight *w,
                         const int32_t *w_sums, const float *bias, float *y, cudaStream_t stream, const char *what) {
    const int64_t groups = w->k / w->group_size;
    int32_t *scratch = NULL;
    const size_t act_sums = (size_t)(m * groups), weight_sums = w_sums ? 0 : (size_t)(w->n * groups);
    LB_CUDA_TRY(cudaMallocAsync((void **)&scratch, (act_sums + weight_sums) * sizeof(int32_t), stream), what);
    lb_status st = LB_OK;
    if (!w_sums) {
        st = lb_cuda_weight_code_sums(w, scratch + act_sums, stream);
        w_sums = scratch + act_sums;
    }
    if (!st) {
        activation_group_sums_kernel<<<lb_blocks(m * groups, 256), 256, 0, stream>>>(a_codes, m, w->k, w->group_size, scratch);
        dim3 grid(lb_blocks(w->n, TC_N), lb_blocks(m, TC_M));
        if (w->bits == 4)
            int_mma_kernel<4><<<grid, TC_THREADS, 0, stream>>>(a_codes, a_scales, a_zeros, scratch, m, *w, w_sums, bias, y);
        else
            int_mma_kernel<8><<<grid, TC_THREADS, 0, stream>>>(a_codes, a_scales, a_zeros, scratch, m, *w, w_sums, bias, y);
        st = lb_cuda_launched(what);
    }
    cudaFreeAsync(scratch, stream);
    return st;
}

extern "C" lb_status lb_cuda_int_gemm(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m,
                                      const lb_qweight *w, const int32_t *w_sums, const float *bias, float *y,
                                      cudaStream_t stream) {
    const char *what = "cuda_int_gemm";
    lb_status st = lb_check_qweight(w, what, 1);
    if (st) return st;
    if (w->bits != 4 && w->bits != 8)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d-bit weights have no integer kernel (use 4 or 8)", what, (int)w->bits);
    if (!a_codes || !a_scales || !a_zeros || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || m > 65535LL * ACT_ROWS)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: m = %lld (need 1 to %lld per call)", what, (long long)m, 65535LL * ACT_ROWS);
    /* a group's raw products stay below 2^31 up to 32768 codes of 255 x 255 */
    if (m > LB_SMALL_M && w->k % TC_K == 0 && w->group_size % TC_K == 0 && w->group_size <= 32768)
        return int_mma(a_codes, a_scales, a_zeros, m, w, w_sums, bias, y, stream, what);
    dim3 grid(lb_blocks(w->n, ROWS_PER_BLOCK), lb_blocks(m, ACT_ROWS));
    if (w->bits == 4) int_gemm_kernel<4><<<grid, ROWS_PER_BLOCK * 32, 0, stream>>>(a_codes, a_scales, a_zeros, m, *w, bias, y);
    else int_gemm_kernel<8><<<grid, ROWS_PER_BLOCK * 32, 0, stream>>>(a_codes, a_scales, a_zeros, m, *w, bias, y);
    return lb_cuda_launched(what);
}
