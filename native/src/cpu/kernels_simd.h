/* Inner loops with one scalar and one AVX2 version each; callers dispatch on lb_simd_active. */
#ifndef LB_CPU_KERNELS_SIMD_H
#define LB_CPU_KERNELS_SIMD_H

#include "lowbit.h"

#include <stdint.h>

/* min and max of w[0..len); returns 0 if any value is NaN or Inf. */
int lb_scalar_minmax(const float *w, int64_t len, float *mn, float *mx);
int lb_avx2_minmax(const float *w, int64_t len, float *mn, float *mx);

/* codes[i] = clamp(rint(w[i] / s) + z, 0, maxq), w / s as lb_scaled computes it. */
void lb_scalar_codes(const float *w, int64_t len, float s, float z, float maxq, uint8_t *codes);
void lb_avx2_codes(const float *w, int64_t len, float s, float z, float maxq, uint8_t *codes);

/* sum over j of x[j] * code j of the packed row, for one group starting at code j0 (a
 * multiple of 32) of len codes; x is in natural order. Used by the GEMV path. */
float lb_scalar_dot_codes(const float *x, const uint32_t *row, int64_t j0, int64_t len, int32_t bits);
float lb_avx2_dot_codes(const float *x, const uint32_t *row, int64_t j0, int64_t len, int32_t bits);

/* w[j] = s * (code j - z) for len codes from code index j0 (a multiple of 32 unless j0 = 0). */
void lb_scalar_dequant_run(const uint32_t *row, int64_t j0, int64_t len, int32_t bits, float s, float z, float *w);
void lb_avx2_dequant_run(const uint32_t *row, int64_t j0, int64_t len, int32_t bits, float s, float z, float *w);

/* out[i][r] += dot(x_i, w_r) for i < mi rows of x (stride ldx) and r < nr rows of w (stride
 * ldw), length len. out has stride ldo. */
void lb_scalar_dot_tile(const float *x, int64_t ldx, int64_t mi, const float *w, int64_t ldw, int64_t nr,
                        int64_t len, float *out, int64_t ldo);
void lb_avx2_dot_tile(const float *x, int64_t ldx, int64_t mi, const float *w, int64_t ldw, int64_t nr,
                      int64_t len, float *out, int64_t ldo);

/* sum over j of a[j] * b[j] for unsigned bytes a (codes <= 255) and b (codes <= 255). */
int32_t lb_scalar_dot_u8(const uint8_t *a, const uint8_t *b, int64_t len);
int32_t lb_avx2_dot_u8(const uint8_t *a, const uint8_t *b, int64_t len);

/* Rows [r0, r0 + nr) of the GEMV y = x . dequant(W)^T without bias: xsum[g] is the sum of x over
 * group g; for 4-bit codes x must be reordered by lb_avx2_permute_x4 (k a multiple of 64).
 * Only where lb_avx2_gemv_supported says so. */
void lb_avx2_permute_x4(const float *x, int64_t k, float *xp);
int lb_avx2_gemv_supported(const lb_qweight *w);
void lb_avx2_gemv_rows(const float *x, const float *xsum, const lb_qweight *w, int64_t r0, int64_t nr, float *out);

/* The W4A8 GEMM for 4-bit weights with groups a multiple of 64: activation codes [m, k] reordered
 * row by row by lb_avx2_split_even_odd, lanes [m, groups, 8] their centred sums per dot-product
 * lane (lb_avx2_lane_sums), wsums [n, groups] the weight code sums (lb_avx2_code_sums4 per row);
 * y [m, n] without bias for the weight rows [r0, r0 + nr). */
void lb_avx2_split_even_odd(const uint8_t *a, int64_t k, uint8_t *out);
void lb_avx2_lane_sums(const uint8_t *a_split, int64_t k, int64_t gs, float za, float *out);
void lb_avx2_w4a8_rows(const uint8_t *a_split, int64_t m, const float *lanes, const float *sa, const float *za, const lb_qweight *w,
                       const int32_t *wsums, int64_t r0, int64_t nr, float *y);
void lb_avx2_code_sums4(const uint32_t *row, int64_t k, int64_t gs, int32_t *sums);

/* The AVX-512 VNNI W4A8 GEMM, as lb_avx2_w4a8_rows with the same results, for groups a multiple
 * of 128 (lb_avx512_w4a8_supported); its activation codes are split by lb_avx512_split_even_odd,
 * the lane sums are lb_avx2_lane_sums' of that split. */
void lb_avx512_split_even_odd(const uint8_t *a, int64_t k, uint8_t *out);
int lb_avx512_w4a8_supported(const lb_qweight *w);
void lb_avx512_w4a8_rows(const uint8_t *a_split, int64_t m, const float *lanes, const float *sa, const float *za, const lb_qweight *w,
                         const int32_t *wsums, int64_t r0, int64_t nr, float *y);

/* The W4A8 GEMM for m >= LB_W4A8_BLOCKED_MIN_M on AVX-512 VNNI (w4a8_blocked_avx512.c): raw activation
 * codes [m, k] in, y [m, n] with bias out, bit-identical to lb_avx2_w4a8_rows; only where
 * lb_avx512_w4a8_blocked_supported says so. Returns 1 when out of memory. */
#define LB_W4A8_BLOCKED_MIN_M 16
int lb_avx512_w4a8_blocked_supported(const lb_qweight *w, const int32_t *wsums, const float *za, int64_t m);
int lb_avx512_w4a8_gemm_blocked(const uint8_t *a_codes, int64_t m, const float *sa, const float *za, const lb_qweight *w,
                                const int32_t *wsums, const float *bias, float *y);

/* The fused dequant-GEMM y = x . dequant(W)^T + bias for m >= LB_DEQUANT_BLOCKED_MIN_M (any bits and
 * groups), blocked with packed panels (dequant_gemm_blocked.h; the AVX-512 one at that level). Returns 1 when out of memory. */
#define LB_DEQUANT_BLOCKED_MIN_M 16
int lb_avx2_dequant_gemm_blocked(const float *x, int64_t m, const lb_qweight *w, const float *bias, float *y);
int lb_avx512_dequant_gemm_blocked(const float *x, int64_t m, const lb_qweight *w, const float *bias, float *y);

/* fp16 -> fp32 for n values. */
void lb_scalar_f16_to_f32(const uint16_t *src, int64_t n, float *dst);
void lb_avx2_f16_to_f32(const uint16_t *src, int64_t n, float *dst);

#endif
