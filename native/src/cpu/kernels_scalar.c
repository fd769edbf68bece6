/* Portable versions of the inner loops: the reference for the SIMD ones. */
#include "common.h"
#include "kernels_simd.h"

int lb_scalar_minmax(const float *w, int64_t len, float *mn, float *mx) {
    float lo = w[0], hi = w[0];
    int finite = 1;
    for (int64_t i = 0; i < len; i++) {
        float v = w[i];
        finite &= isfinite(v) != 0;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *mn = lo;
    *mx = hi;
    return finite;
}

void lb_scalar_codes(const float *w, int64_t len, float s, float z, float maxq, uint8_t *codes) {
    const float r = lb_reciprocal(s);
    for (int64_t i = 0; i < len; i++) {
        float q = rintf(lb_scaled(w[i], s, r)) + z;
        q = q < 0.0f ? 0.0f : (q > maxq ? maxq : q);
        codes[i] = (uint8_t)q;
    }
}

float lb_scalar_dot_codes(const float *x, const uint32_t *row, int64_t j0, int64_t len, int32_t bits) {
    float acc = 0.0f;
    for (int64_t i = 0; i < len; i++) acc += x[i] * (float)lb_get_code(row, j0 + i, bits);
    return acc;
}

void lb_scalar_dequant_run(const uint32_t *row, int64_t j0, int64_t len, int32_t bits, float s, float z, float *w) {
    for (int64_t i = 0; i < len; i++) w[i] = ((float)lb_get_code(row, j0 + i, bits) - z) * s;
}

void lb_scalar_dot_tile(const float *x, int64_t ldx, int64_t mi, const float *w, int64_t ldw, int64_t nr,
                        int64_t len, float *out, int64_t ldo) {
    for (int64_t i = 0; i < mi; i++)
        for (int64_t r = 0; r < nr; r++) {
            const float *a = x + i * ldx, *b = w + r * ldw;
            float acc = 0.0f;
            for (int64_t j = 0; j < len; j++) acc += a[j] * b[j];
            out[i * ldo + r] += acc;
        }
}

int32_t lb_scalar_dot_u8(const uint8_t *a, const uint8_t *b, int64_t len) {
    int32_t acc = 0;
    for (int64_t i = 0; i < len; i++) acc += (int32_t)a[i] * (int32_t)b[i];
    return acc;
}

void lb_scalar_f16_to_f32(const uint16_t *src, int64_t n, float *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = lb_f16_to_f32(src[i]);
}
