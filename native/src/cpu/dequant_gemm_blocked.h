/* The driver of the blocked dequant-GEMM, included by dequant_gemm_blocked_avx2.c and _avx512.c after
 * each defines MR (activation rows per micro-kernel), NR (weight rows per micro-kernel), the
 * micro-kernel micro() and LB_DEQUANT_BLOCKED (the function's name). Per column block of kc, the
 * activation rows are packed transposed into panels of MR rows that stay in L2; each panel of NR weight
 * rows is dequantized once into an fp32 panel in L1 and multiplied against every activation panel.
 * Packing the weights reads their codes where a dense sgemm packs fp32, so at M in the hundreds it can
 * match the dense GEMM. Sums are fp32 in k order within a block, blocks added into y in order. */
#ifndef LB_CPU_DEQUANT_GEMM_BLOCKED_H
#define LB_CPU_DEQUANT_GEMM_BLOCKED_H

#include "common.h"
#include "kernels_simd.h"

#include <immintrin.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define X_PANEL (1 << 17) /* floats of packed activations per column block (512 KB, L2) */

/* x rows [0, m) over columns [k0, k0 + kc) as [ceil(m / MR)][kc][MR], zeros past m. */
static void pack_x(const float *x, int64_t m, int64_t k, int64_t k0, int64_t kc, float *xp) {
    const int64_t blocks = (m + MR - 1) / MR;
    for (int64_t b = 0; b < blocks; b++) {
        float *dst = xp + b * kc * MR;
        for (int i = 0; i < MR; i++) {
            const int64_t row = b * MR + i;
            if (row < m) {
                const float *src = x + row * k + k0;
                for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = src[p];
            } else {
                for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = 0.0f;
            }
        }
    }
}

/* Weight rows [r0, r0 + nr) over [k0, k0 + kc), dequantized as lb_avx2_dequant_run does, [NR][kc];
 * rows past nr are zeros. */
static void dequant_panel(const lb_qweight *w, int64_t r0, int64_t nr, int64_t k0, int64_t kc, float *wp) {
    const int64_t gs = w->group_size, groups = w->k / gs, wpr = lb_words_per_row(w->k, w->bits);
    for (int64_t rr = 0; rr < NR; rr++) {
        float *dst = wp + rr * kc;
        if (rr >= nr) {
            memset(dst, 0, (size_t)kc * sizeof(float));
            continue;
        }
        const int64_t r = r0 + rr;
        for (int64_t j = k0; j < k0 + kc;) { /* runs within one group */
            const int64_t g = j / gs, end = (g + 1) * gs < k0 + kc ? (g + 1) * gs : k0 + kc;
            const float s = lb_load_param(w->scales, w->scale_dtype, r * groups + g);
            const float z = lb_load_param(w->zeros, w->scale_dtype, r * groups + g);
            lb_avx2_dequant_run(w->codes + r * wpr, j, end - j, w->bits, s, z, dst + (j - k0));
            j = end;
        }
    }
}

/* Each thread owns a contiguous range of weight panels and packs the activation block it needs itself:
 * the packing is repeated per thread (m kc floats per block, small beside the m n kc FMAs), and there is
 * no barrier per column block, which on oversubscribed cores costs a time slice each. */
int LB_DEQUANT_BLOCKED(const float *x, int64_t m, const lb_qweight *w, const float *bias, float *y) {
    const int64_t n = w->n, k = w->k, mblocks = (m + MR - 1) / MR, nblocks = (n + NR - 1) / NR;
    int64_t kc = X_PANEL / (mblocks * MR) & ~(int64_t)63;
    if (kc < 128) kc = 128;
    if (kc > (4096 / NR & ~(int64_t)63)) kc = 4096 / NR & ~(int64_t)63; /* the weight panel: 16 KB of L1 */
    if (kc > k) kc = k;
    for (int64_t i = 0; i < m; i++)
        for (int64_t r = 0; r < n; r++) y[i * n + r] = bias ? bias[r] : 0.0f;
    int nomem = 0;
#pragma omp parallel if (m * n * k > LB_OMP_MIN_WORK)
    {
        int64_t b0 = 0, b1 = nblocks;
#ifdef _OPENMP
        const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
        b0 = nblocks * t / threads;
        b1 = nblocks * (t + 1) / threads;
#endif
        if (b0 < b1) {
            float *xp = _mm_malloc((size_t)(mblocks * MR * kc) * sizeof(float), 64);
            float *wp = _mm_malloc((size_t)(NR * kc) * sizeof(float), 64);
            if (!xp || !wp) {
#pragma omp atomic write
                nomem = 1;
            } else {
                for (int64_t k0 = 0; k0 < k; k0 += kc) {
                    const int64_t klen = k - k0 < kc ? k - k0 : kc;
                    pack_x(x, m, k, k0, klen, xp);
                    for (int64_t b = b0; b < b1; b++) {
                        const int64_t r0 = b * NR, nr = n - r0 < NR ? n - r0 : NR;
                        dequant_panel(w, r0, nr, k0, klen, wp);
                        for (int64_t mb = 0; mb < mblocks; mb++) {
                            const int64_t mi = m - mb * MR < MR ? m - mb * MR : MR;
                            micro(xp + mb * klen * MR, wp, klen, y + mb * MR * n + r0, n, mi, nr);
                        }
                    }
                }
            }
            _mm_free(xp);
            _mm_free(wp);
        }
    }
    return nomem;
}

#endif
