/* The second small-M (m <= 16) dequant-GEMM, Marlin-style (Frantar et al., 2024), and its choice.
 *
 * Repacked layout (lb_cuda_repack_marlin; 4-bit codes, k % 64 == 0, n % 16 == 0; n * k / 8 words):
 * the weights in tiles of 16 rows by 64 columns, tile (t, c) = rows [16 t, 16 t + 16), columns
 * [64 c, 64 c + 64), stored at words [(t * k / 64 + c) * 128, + 128) in row order t, then c. Inside a
 * tile, 16 bytes per lane of a warp: lane l holds row 16 t + l / 2, columns 64 c + 32 (l % 2) + [0, 32),
 * as the 4 canonical words of those codes (code j of a word in bits [4 j, 4 j + 4)). A warp thus
 * reads a tile as one coalesced 512-byte run of 16-byte loads, and each lane's 32 codes lie in one
 * group (groups are >= 32 columns). Scales and zeros stay in the canonical lb_qweight buffers.
 *
 * The kernel: a block of MARLIN_WARPS warps owns MARLIN_TILES tiles' rows (32 outputs); its warps
 * split k (warp w takes column chunks w, w + MARLIN_WARPS, ...), each loading the next chunk's
 * codes while it dequantizes the current one in registers to x's type (fp16 or bf16). WMMA's
 * fragment layout is opaque, so the dequantized tile goes through a per-warp shared buffer into
 * matrix_b fragments; x (rows >= m zero) likewise into matrix_a. fp32 accumulation; the warps'
 * partial tiles are summed in shared memory in warp order. x is read 16 bytes at a time too; fp32 x, or x
 * not 16-byte aligned, takes the CUDA-core kernel. */
#include "common.cuh"

#include <atomic>
#include <mma.h>
#include <stdlib.h>
#include <string.h>

using namespace nvcuda;

#define MARLIN_WARPS 4
#define MARLIN_TILES 2
#define MARLIN_KC 64
#define MARLIN_LD (MARLIN_KC + 8) /* shared row stride in elements: a multiple of 8 for WMMA, against bank conflicts */

template <typename T> __device__ __forceinline__ T marlin_from_float(float v);
template <> __device__ __forceinline__ __half marlin_from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 marlin_from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

/* packed as uint4: the chunk's 16 bytes of tile `tile` for this lane. */
__device__ __forceinline__ uint4 marlin_load(const uint4 *packed, int64_t tile, int64_t chunks, int64_t c, int lane) {
    return __ldg(packed + (tile * chunks + c) * 32 + lane);
}

template <typename XT>
__global__ void __launch_bounds__(MARLIN_WARPS * 32)
    marlin_kernel(const XT *x, int m, lb_qweight q, const uint4 *packed, const float *bias, float *y) {
    __shared__ __align__(32) XT a_stage[MARLIN_WARPS][16][MARLIN_LD];
    __shared__ __align__(32) XT b_stage[MARLIN_WARPS][MARLIN_TILES * 16][MARLIN_LD];
    __shared__ __align__(32) float partial[MARLIN_WARPS][16][MARLIN_TILES * 16];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, r = lane >> 1, half = lane & 1;
    const int64_t k = q.k, gs = q.group_size, groups = k / gs, chunks = k / MARLIN_KC;
    const int64_t tile0 = (int64_t)blockIdx.x * MARLIN_TILES;
    const int tiles = (int)(q.n / 16 - tile0 < MARLIN_TILES ? q.n / 16 - tile0 : MARLIN_TILES); /* the same for the whole block */
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[MARLIN_TILES];
    for (int t = 0; t < MARLIN_TILES; t++) wmma::fill_fragment(acc[t], 0.0f);
    uint4 cur[MARLIN_TILES], next[MARLIN_TILES];
    if (warp < chunks)
        for (int t = 0; t < tiles; t++) cur[t] = marlin_load(packed, tile0 + t, chunks, warp, lane);
    for (int64_t c = warp; c < chunks; c += MARLIN_WARPS) {
        if (c + MARLIN_WARPS < chunks) /* in flight while this chunk is dequantized */
            for (int t = 0; t < tiles; t++) next[t] = marlin_load(packed, tile0 + t, chunks, c + MARLIN_WARPS, lane);
        const int64_t j0 = c * MARLIN_KC + half * 32;
        const uint4 *xs = (const uint4 *)(x + (int64_t)r * k + j0); /* 32 values of row r: 4 x 16 bytes */
        uint4 *as = (uint4 *)&a_stage[warp][r][half * 32];
#pragma unroll
        for (int v = 0; v < 4; v++) as[v] = r < m ? __ldg(xs + v) : uint4{0u, 0u, 0u, 0u};
        for (int t = 0; t < tiles; t++) {
            const int64_t p = ((tile0 + t) * 16 + r) * groups + j0 / gs;
            const float s = lb_load_param(q.scales, q.scale_dtype, p), z = lb_load_param(q.zeros, q.scale_dtype, p);
            const uint32_t words[4] = {cur[t].x, cur[t].y, cur[t].z, cur[t].w};
#pragma unroll
            for (int wi = 0; wi < 4; wi++) { /* a word's 8 codes become 16 bytes of x's type, stored at once */
                __align__(16) XT v[8];
#pragma unroll
                for (int ci = 0; ci < 8; ci++) v[ci] = marlin_from_float<XT>(((float)((words[wi] >> (4 * ci)) & 15u) - z) * s);
                *(uint4 *)&b_stage[warp][t * 16 + r][half * 32 + wi * 8] = *(const uint4 *)v;
            }
        }
        __syncwarp();
        for (int kk = 0; kk < MARLIN_KC; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, XT, wmma::row_major> fa;
            wmma::load_matrix_sync(fa, &a_stage[warp][0][kk], MARLIN_LD);
            for (int t = 0; t < tiles; t++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, XT, wmma::col_major> fb;
                wmma::load_matrix_sync(fb, &b_stage[warp][t * 16][kk], MARLIN_LD);
                wmma::mma_sync(acc[t], fa, fb, acc[t]);
            }
        }
        __syncwarp(); /* the next chunk overwrites the stages */
        for (int t = 0; t < tiles; t++) cur[t] = next[t];
    }
    for (int t = 0; t < MARLIN_TILES; t++)
        wmma::store_matrix_sync(&partial[warp][0][t * 16], acc[t], MARLIN_TILES * 16, wmma::mem_row_major);
    __syncthreads();
    for (int e = threadIdx.x; e < m * tiles * 16; e += blockDim.x) {
        const int i = e / (tiles * 16), nn = e % (tiles * 16);
        const int64_t row = tile0 * 16 + nn;
        float v = 0.0f;
        for (int w = 0; w < MARLIN_WARPS; w++) v += partial[w][i][nn];
        y[(int64_t)i * q.n + row] = v + (bias ? bias[row] : 0.0f);
    }
}

/* One thread per repacked word: the canonical word it copies (see the layout above). */
__global__ void marlin_repack_kernel(const uint32_t *codes, int64_t n, int64_t k, uint32_t *packed) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, chunks = k / MARLIN_KC;
    if (idx >= n * k / 8) return;
    const int64_t u = idx / 4, lane = u % 32, c = u / 32 % chunks, tile = u / 32 / chunks;
    packed[idx] = codes[(tile * 16 + lane / 2) * (k / 8) + c * 8 + (lane % 2) * 4 + idx % 4];
}

static lb_status marlin_shape(const lb_qweight *w, const char *what) {
    lb_status st = lb_check_qweight(w, what, 1);
    if (st) return st;
    if (w->bits != 4 || w->k % MARLIN_KC != 0 || w->n % 16 != 0)
        return lb_fail(LB_ERR_UNSUPPORTED,
                       "%s: the repacked layout needs 4-bit weights with k %% 64 == 0 and n %% 16 == 0, got %d-bit [%lld, %lld]",
                       what, (int)w->bits, (long long)w->n, (long long)w->k);
    if (w->n / 16 > 65535LL * 32768LL) return lb_fail(LB_ERR_UNSUPPORTED, "%s: n = %lld is too large", what, (long long)w->n);
    return LB_OK;
}

extern "C" lb_status lb_cuda_repack_marlin(const lb_qweight *w, uint32_t *packed, cudaStream_t stream) {
    const char *what = "cuda_repack_marlin";
    lb_status st = marlin_shape(w, what);
    if (st) return st;
    if (!packed || (uintptr_t)packed % 16)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: packed is NULL or not 16-byte aligned", what);
    const int64_t words = w->n * w->k / 8;
    marlin_repack_kernel<<<lb_blocks(words, 256), 256, 0, stream>>>(w->codes, w->n, w->k, packed);
    return lb_cuda_launched(what);
}

/* -2: LOWBIT_CUDA_SMALL_M not read yet; -1: it names no kernel. */
static std::atomic<int> small_m_kernel{-2};

static int small_m_from_env(void) {
    const char *v = getenv("LOWBIT_CUDA_SMALL_M");
    if (!v || !*v || strcmp(v, "cuda-core") == 0) return LB_SMALL_M_CUDA_CORE;
    return strcmp(v, "marlin") == 0 ? LB_SMALL_M_MARLIN : -1;
}

extern "C" int32_t lb_cuda_small_m_kernel(void) {
    int k = small_m_kernel.load();
    if (k == -2) {
        int expected = -2;
        small_m_kernel.compare_exchange_strong(expected, small_m_from_env());
        k = small_m_kernel.load();
    }
    return k;
}

extern "C" lb_status lb_cuda_set_small_m_kernel(int32_t kernel) {
    if (kernel != LB_SMALL_M_CUDA_CORE && kernel != LB_SMALL_M_MARLIN)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "cuda_set_small_m_kernel: kernel %d is not LB_SMALL_M_CUDA_CORE (0) or "
                       "LB_SMALL_M_MARLIN (1)", (int)kernel);
    small_m_kernel.store(kernel);
    return LB_OK;
}

extern "C" lb_status lb_cuda_dequant_gemm_repacked(const void *x, int32_t x_dtype, int64_t m, const lb_qweight *w,
                                                   const uint32_t *packed, const float *bias, float *y, cudaStream_t stream) {
    const char *what = "cuda_dequant_gemm_repacked";
    const int32_t kernel = lb_cuda_small_m_kernel();
    if (kernel < 0)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: LOWBIT_CUDA_SMALL_M=%s names no kernel (cuda-core or marlin)", what,
                       getenv("LOWBIT_CUDA_SMALL_M"));
    if (!packed || (uintptr_t)packed % 16)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: packed is NULL or not 16-byte aligned (lb_cuda_repack_marlin fills it)", what);
    lb_status st = marlin_shape(w, what);
    if (st) return st;
    const int marlin = kernel == LB_SMALL_M_MARLIN && m >= 1 && m <= LB_SMALL_M && x_dtype != LB_DTYPE_F32 && (uintptr_t)x % 16 == 0;
    if (!marlin) return lb_cuda_dequant_gemm(x, x_dtype, m, w, bias, y, stream);
    if (!x || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: x or y is NULL", what);
    const unsigned blocks = lb_blocks(w->n / 16, MARLIN_TILES);
    switch (x_dtype) {
    case LB_DTYPE_F16:
        marlin_kernel<__half><<<blocks, MARLIN_WARPS * 32, 0, stream>>>((const __half *)x, (int)m, *w, (const uint4 *)packed,
                                                                         bias, y);
        break;
    case LB_DTYPE_BF16:
        marlin_kernel<__nv_bfloat16><<<blocks, MARLIN_WARPS * 32, 0, stream>>>((const __nv_bfloat16 *)x, (int)m, *w,
                                                                                (const uint4 *)packed, bias, y);
        break;
    default: return lb_fail(LB_ERR_UNSUPPORTED, "%s: activation dtype %d is not supported (fp32, fp16, bf16)", what, (int)x_dtype);
    }
    return lb_cuda_launched(what);
}
