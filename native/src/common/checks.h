/* Argument checks, error recording and the code layout shared by liblowbit and liblowbit_cuda
 * (each library keeps its own per-thread message behind lb_fail). */
#ifndef LB_COMMON_CHECKS_H
#define LB_COMMON_CHECKS_H

#include "lowbit.h"

#ifdef __CUDACC__
#define LB_HOST_DEVICE __host__ __device__ /* also callable in CUDA kernels */
#else
#define LB_HOST_DEVICE
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Records the message for the library's last-error getter on this thread and returns status. */
lb_status lb_fail(lb_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_clear_error(void);

static inline LB_HOST_DEVICE int lb_bits_supported(int32_t bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 6 || bits == 8; }

static inline LB_HOST_DEVICE int64_t lb_words_per_row(int64_t k, int32_t bits) { return (k * bits + 31) / 32; }

/* Code j of a row's bit stream. */
static inline LB_HOST_DEVICE uint32_t lb_get_code(const uint32_t *row, int64_t j, int32_t bits) {
    int64_t bit = j * bits;
    uint64_t lo = row[bit >> 5];
    uint32_t off = (uint32_t)(bit & 31);
    if (off + (uint32_t)bits > 32) lo |= (uint64_t)row[(bit >> 5) + 1] << 32;
    return (uint32_t)(lo >> off) & ((1u << bits) - 1u);
}

/* Checks the fields of a quantized weight descriptor; returns LB_OK or records an error. */
lb_status lb_check_qweight(const lb_qweight *q, const char *what, int need_params);

/* Argument checks of the model ops and the channel reassembly, the same for both backends. */
lb_status lb_check_rows(const char *what, const void *a, const void *b, int64_t m, int64_t n);
lb_status lb_check_rope(const char *what, const void *x, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0,
                        int64_t period, float theta);
lb_status lb_check_attention(const char *what, int64_t m, int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim);
lb_status lb_check_attention_train(const char *what, int64_t b, int64_t t, int64_t heads, int64_t kv_heads, int64_t head_dim);
/* Output channel j of a reassembly map reads input channels ia and ib (of k_in) with factors sa and sb. */
lb_status lb_check_channel(const char *what, int64_t j, int32_t ia, int32_t ib, float sa, float sb, int64_t k_in);

#ifdef __cplusplus
}
#endif

#endif
