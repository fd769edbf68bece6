/* C-level checks of liblowbit's contract: status codes and messages on bad input, and a
 * small quantize -> dequantize -> GEMM round trip. The numerics are tested in depth from Java. */
#include "check.h"
#include "lowbit.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The Java bindings (bindings/.../lb_qweight.java) assume exactly this layout. */
_Static_assert(sizeof(lb_qweight) == 56, "lb_qweight size");
_Static_assert(offsetof(lb_qweight, n) == 24 && offsetof(lb_qweight, bits) == 40 && offsetof(lb_qweight, reserved) == 52,
               "lb_qweight field offsets");

enum { N = 5, K = 64, G = 32 };

int main(void) {
    float w[N * K], back[N * K], x[K], y[N], scales[N * K / G], zeros[N * K / G];
    uint32_t codes[N * K / 8];
    for (int i = 0; i < N * K; i++) w[i] = sinf((float)i * 0.37f) * (1.0f + (float)(i % 7));
    for (int i = 0; i < K; i++) x[i] = cosf((float)i * 0.11f);
    lb_qweight q = {codes, scales, zeros, N, K, 4, G, LB_DTYPE_F32, 0};

    CHECK(lb_cpu_quantize_weights(w, K, &q, 0, LB_RANGE_MINMAX) == LB_OK, "quantize: %s", lb_last_error());
    CHECK(lb_cpu_dequantize_weights(&q, back, K) == LB_OK, "dequantize: %s", lb_last_error());
    for (int i = 0; i < N * K; i++) {
        float step = scales[(i / K) * (K / G) + (i % K) / G];
        CHECK(fabsf(back[i] - w[i]) <= 0.5f * step * 1.0001f, "round trip error at %d: %g vs %g", i, back[i], w[i]);
    }
    CHECK(lb_cpu_dequant_gemm(x, LB_DTYPE_F32, 1, &q, NULL, y) == LB_OK, "gemm: %s", lb_last_error());
    for (int r = 0; r < N; r++) {
        double ref = 0;
        for (int j = 0; j < K; j++) ref += (double)x[j] * back[r * K + j];
        CHECK(fabs(ref - y[r]) < 1e-3, "gemv row %d: %g vs %g", r, y[r], ref);
    }

    /* W4A8 with groups of 64 (the AVX2 kernel where the CPU has it): code sums, then the integer GEMM
     * with them and without (summed by the kernel) against a double reference from the codes */
    uint32_t codes64[N * K / 8];
    float scales64[N], zeros64[N], as, az;
    int32_t sums[N];
    uint8_t acodes[K];
    lb_qweight q64 = {codes64, scales64, zeros64, N, K, 4, 64, LB_DTYPE_F32, 0};
    CHECK(lb_cpu_quantize_weights(w, K, &q64, 0, LB_RANGE_MINMAX) == LB_OK, "quantize g64: %s", lb_last_error());
    CHECK(lb_cpu_weight_code_sums(&q64, sums) == LB_OK, "code sums: %s", lb_last_error());
    CHECK(lb_cpu_quantize_activations(x, 1, K, 8, acodes, &as, &az) == LB_OK, "quantize activations: %s", lb_last_error());
    for (int pass = 0; pass < 2; pass++) {
        CHECK(lb_cpu_int_gemm(acodes, &as, &az, 1, &q64, pass ? NULL : sums, NULL, y) == LB_OK, "int gemm: %s", lb_last_error());
        for (int r = 0; r < N; r++) {
            double ref = 0;
            int64_t sum = 0;
            for (int j = 0; j < K; j++) {
                int code = (int)(codes64[r * K / 8 + j / 8] >> (4 * (j % 8))) & 15;
                sum += code;
                ref += (double)as * ((double)acodes[j] - az) * (double)scales64[r] * ((double)code - zeros64[r]);
            }
            if (!pass) CHECK(sums[r] == sum, "code sum of row %d: %d vs %lld", r, sums[r], (long long)sum);
            CHECK(fabs(ref - y[r]) < 1e-4, "int gemm row %d (%s): %g vs %g", r, pass ? "kernel's sums" : "given sums", y[r], ref);
        }
    }

    lb_qweight bad = q;
    bad.bits = 5;
    CHECK(lb_cpu_quantize_weights(w, K, &bad, 0, LB_RANGE_MINMAX) == LB_ERR_UNSUPPORTED, "5 bits accepted");
    CHECK(strstr(lb_last_error(), "5-bit") != NULL, "message: %s", lb_last_error());
    bad = q;
    bad.group_size = 48;
    CHECK(lb_cpu_dequant_gemm(x, LB_DTYPE_F32, 1, &bad, NULL, y) == LB_ERR_UNSUPPORTED, "group 48 accepted");
    CHECK(lb_cpu_dequant_gemm(NULL, LB_DTYPE_F32, 1, &q, NULL, y) == LB_ERR_INVALID_ARGUMENT, "NULL x accepted");
    w[70] = NAN;
    CHECK(lb_cpu_quantize_weights(w, K, &q, 0, LB_RANGE_MINMAX) == LB_ERR_NON_FINITE, "NaN accepted");
    CHECK(strstr(lb_last_error(), "[1, 0]") != NULL, "NaN location missing: %s", lb_last_error());
    CHECK(lb_cpu_set_simd_level(99) == LB_ERR_UNSUPPORTED, "SIMD level 99 accepted");
    /* channel reassembly: channel 1 split in two, channels 0 and 2 merged */
    const float xr[3] = {1.0f, 8.0f, 3.0f};
    const int32_t ia[3] = {0, 1, 1}, ib[3] = {2, 1, 1}, ia_bad[3] = {0, 1, 3};
    const float sa[3] = {0.5f, 0.5f, 0.5f}, sb[3] = {0.5f, 0.0f, 0.0f};
    float xo[3];
    CHECK(lb_cpu_channel_reassemble(xr, 1, 3, ia, ib, sa, sb, 3, xo) == LB_OK, "reassemble: %s", lb_last_error());
    CHECK(xo[0] == 2.0f && xo[1] == 4.0f && xo[2] == 4.0f, "reassembled %g %g %g", xo[0], xo[1], xo[2]);
    CHECK(lb_cpu_channel_reassemble(xr, 1, 3, ia_bad, ib, sa, sb, 3, xo) == LB_ERR_INVALID_ARGUMENT, "index 3 of 3 accepted");
    /* its gradient: channel 0 gets half of output 0, channel 1 half of outputs 1 and 2, channel 2 half of output 0 */
    const float dr[3] = {2.0f, 4.0f, 6.0f};
    float dxr[3];
    CHECK(lb_cpu_channel_reassemble_backward(dr, 1, 3, ia, ib, sa, sb, 3, dxr) == LB_OK, "reassemble backward: %s", lb_last_error());
    CHECK(dxr[0] == 1.0f && dxr[1] == 5.0f && dxr[2] == 1.0f, "reassembly gradient %g %g %g", dxr[0], dxr[1], dxr[2]);
    /* fake quantization at 2 bits of one row {-1, 0, 0.4, 2}: s = 1, z = 1, so {-1, 0, 0, 2} */
    const float fq[4] = {-1.0f, 0.0f, 0.4f, 2.0f};
    float fo[4];
    CHECK(lb_cpu_fake_quant_groups(fq, 1, 4, 4, 2, fo) == LB_OK, "fake quant: %s", lb_last_error());
    CHECK(fo[0] == -1.0f && fo[1] == 0.0f && fo[2] == 0.0f && fo[3] == 2.0f, "fake quant %g %g %g %g", fo[0], fo[1], fo[2], fo[3]);
    CHECK(lb_cpu_fake_quant_groups(fq, 1, 4, 3, 2, fo) == LB_ERR_INVALID_ARGUMENT, "group 3 of 4 accepted");
    CHECK(lb_cpu_fake_quant_groups(fq, 1, 4, 4, 9, fo) == LB_ERR_UNSUPPORTED, "9 bits accepted");
    CHECK(lb_nop(7) == 7, "nop");
    const uint64_t words[3] = {1, 2, UINT64_MAX};
    uint64_t total = 0;
    CHECK(lb_cpu_read_sum(words, 3, &total) == LB_OK && total == 2, "read_sum %llu, wrapping gives 2", (unsigned long long)total);
    CHECK(lb_cpu_read_sum(words, -1, &total) == LB_ERR_INVALID_ARGUMENT, "negative length accepted");

    if (failures) {
        fprintf(stderr, "%d failed\n", failures);
        return 1;
    }
    printf("1 passed, 0 failed\n");
    return 0;
}
