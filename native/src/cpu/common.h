/* Internal helpers shared by the CPU kernels: errors, fp16, validation, code packing. */
#ifndef LB_CPU_COMMON_H
#define LB_CPU_COMMON_H

#include "checks.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Active SIMD level (LB_SIMD_*), chosen at load time, lowered by lb_cpu_set_simd_level. */
extern int32_t lb_simd_active;

/* Below this many multiply-adds a kernel runs on the calling thread: an OpenMP fork/join costs
 * microseconds, more than such work (a small model's token step), and far more on busy cores. */
#define LB_OMP_MIN_WORK ((int64_t)1 << 16)

static inline int lb_is_finite(float x) { return isfinite(x); }

/* IEEE binary16 <-> binary32, round to nearest even (matches F16C and Java's Float16). */
static inline float lb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t lb_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u : 0));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) { /* result subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25: rounds to 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax >> 13) - (112u << 10)), rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

static inline float lb_load_param(const void *p, int32_t dtype, int64_t i) {
    return dtype == LB_DTYPE_F16 ? lb_f16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void lb_store_param(void *p, int32_t dtype, int64_t i, float v) {
    if (dtype == LB_DTYPE_F16) ((uint16_t *)p)[i] = lb_f32_to_f16(v);
    else ((float *)p)[i] = v;
}

/* w / s as the quantizers compute it: w * (1 / s), the reciprocal rounded to fp32, unless it
 * overflows (s below 2^-128), then a true division. Multiplying keeps the SIMD loops off the
 * divider; every kernel and the Java references use this one definition. */
static inline float lb_reciprocal(float s) {
    float r = 1.0f / s;
    return isfinite(r) ? r : 0.0f;
}

static inline float lb_scaled(float w, float s, float r) { return r != 0.0f ? w * r : w / s; }

/* max of a row and log(sum(exp(x - max))), the sum in double. */
static inline void lb_row_logsumexp(const float *x, int64_t n, float *mx, double *lse) {
    float m = x[0];
    for (int64_t j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += exp((double)(x[j] - m));
    *mx = m;
    *lse = log(s);
}

/* LB_OK if every target is in [0, vocab), else records which is not. */
static inline lb_status lb_check_targets(const char *what, const int32_t *targets, int64_t m, int64_t vocab) {
    for (int64_t i = 0; i < m; i++)
        if (targets[i] < 0 || targets[i] >= vocab)
            return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: target %d of row %lld is outside [0, %lld)", what, (int)targets[i],
                           (long long)i, (long long)vocab);
    return LB_OK;
}

/* Packs count codes (one per byte) into a row's stream starting at code index j0; the
 * stream words it touches must start zeroed. */
void lb_pack_codes(const uint8_t *codes, int64_t count, int32_t bits, uint32_t *row, int64_t j0);
/* Unpacks count codes from code index j0 of a row's stream, one per byte. */
void lb_unpack_codes(const uint32_t *row, int64_t j0, int64_t count, int32_t bits, uint8_t *codes);

#endif
