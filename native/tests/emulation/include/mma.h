/* Stand-in for mma.h (WMMA) in the host emulation: every thread holds the whole tile, so loads,
 * products and stores work on whole tiles (a warp's lanes hold identical copies; lane 0 stores).
 * Products are summed in k order (fp32, or int for u8/s8 codes): tolerances, not bits, compare the
 * fp32 ones with the hardware. */
#pragma once
#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "cuda_host.h"

#include <type_traits>

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}
enum layout_t { mem_row_major, mem_col_major };

template <typename T> struct element {
    typedef T type;
};
template <> struct element<precision::tf32> {
    typedef float type;
};
inline float to_float(float v) { return v; }
inline float to_float(__half v) { return __half2float(v); }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
    static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
    static constexpr int num_elements = rows * cols;
    typename element<T>::type x[rows * cols]; /* (r, c) at r * cols + c */
};

/* fp32 rounded to TF32's 10-bit mantissa, to nearest even. */
inline float __float_to_tf32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u + 0xFFFu + ((u >> 13) & 1u)) & ~0x1FFFu;
    memcpy(&f, &u, sizeof f);
    return f;
}

template <typename U, int M, int N, int K, typename T, typename L> void fill_fragment(fragment<U, M, N, K, T, L> &f, float v) {
    for (int e = 0; e < f.num_elements; e++) f.x[e] = v;
}

template <typename U, int M, int N, int K, typename T, typename L, typename P>
void load_matrix_sync(fragment<U, M, N, K, T, L> &f, const P *p, unsigned ldm) {
    typedef fragment<U, M, N, K, T, L> F;
    for (int r = 0; r < F::rows; r++)
        for (int c = 0; c < F::cols; c++) f.x[r * F::cols + c] = p[std::is_same_v<L, row_major> ? r * ldm + c : r + c * ldm];
}

template <int M, int N, int K, typename C, typename TA, typename LA, typename TB, typename LB>
void mma_sync(fragment<accumulator, M, N, K, C> &d, const fragment<matrix_a, M, N, K, TA, LA> &a,
              const fragment<matrix_b, M, N, K, TB, LB> &b, const fragment<accumulator, M, N, K, C> &c) {
    C out[M * N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            C s = c.x[i * N + j];
            for (int k = 0; k < K; k++) {
                if constexpr (std::is_same_v<C, int>) s += (int)a.x[i * K + k] * (int)b.x[k * N + j]; /* u8/s8 codes */
                else s += to_float(a.x[i * K + k]) * to_float(b.x[k * N + j]);
            }
            out[i * N + j] = s;
        }
    memcpy(d.x, out, sizeof out);
}

template <int M, int N, int K, typename C>
void store_matrix_sync(C *p, const fragment<accumulator, M, N, K, C> &f, unsigned ldm, layout_t layout) {
    if (threadIdx.x & 31) return;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) p[layout == mem_row_major ? i * ldm + j : i + j * ldm] = f.x[i * N + j];
}
} // namespace wmma
} // namespace nvcuda
