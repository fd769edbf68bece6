/* Integer GEMM of per-token quantized activations (u8 codes) with 4- or 8-bit weights: a warp per
 * weight row and 8 activation rows; each lane takes whole code words and forms their exact integer
 * contribution sum (qa - za)(qw - zw) with dp4a (4-bit nibbles split into even and odd bytes), then
 * scales it by sw * sa into an fp32 sum. Per-word rather than per-group scaling: results match the
 * CPU's (exact per group, double) to fp32 rounding. The code sums of lb_cuda_weight_code_sums are
 * not needed here (a word's sums cost two more dp4a), so w_sums is accepted and unused. */
#include "common.cuh"

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

extern "C" lb_status lb_cuda_int_gemm(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m,
                                      const lb_qweight *w, const int32_t *w_sums, const float *bias, float *y,
                                      cudaStream_t stream) {
    (void)w_sums;
    const char *what = "cuda_int_gemm";
    lb_status st = lb_check_qweight(w, what, 1);
    if (st) return st;
    if (w->bits != 4 && w->bits != 8)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %d-bit weights have no integer kernel (use 4 or 8)", what, (int)w->bits);
    if (!a_codes || !a_scales || !a_zeros || !y) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (m <= 0 || m > 65535LL * ACT_ROWS)
        return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: m = %lld (need 1 to %lld per call)", what, (long long)m, 65535LL * ACT_ROWS);
    dim3 grid(lb_blocks(w->n, ROWS_PER_BLOCK), lb_blocks(m, ACT_ROWS));
    if (w->bits == 4) int_gemm_kernel<4><<<grid, ROWS_PER_BLOCK * 32, 0, stream>>>(a_codes, a_scales, a_zeros, m, *w, bias, y);
    else int_gemm_kernel<8><<<grid, ROWS_PER_BLOCK * 32, 0, stream>>>(a_codes, a_scales, a_zeros, m, *w, bias, y);
    return lb_cuda_launched(what);
}
