/* C-level smoke test of liblowbit_cuda: each kernel against the CPU kernel on the same inputs
 * (bit-identical where lowbit.h says so), and a status code with a message on bad input. Exits 77
 * (ctest: skipped) where no GPU is present. The numerics are tested in depth from Java (tag gpu). */
#include "check.h"
#include "lowbit.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 37, K = 256, G = 64, M = 3, BIG_M = 70 };

static void *to_device(const void *host, size_t bytes) {
    void *d = NULL;
    if (cudaMalloc(&d, bytes) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc of %zu bytes failed\n", bytes);
        exit(1);
    }
    if (host) cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice);
    return d;
}

static void to_host(void *host, const void *dev, size_t bytes) { cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost); }

static double max_rel_diff(const float *a, const float *b, int count) {
    double worst = 0, scale = 1e-6;
    for (int i = 0; i < count; i++) scale = fmax(scale, fabs((double)b[i]));
    for (int i = 0; i < count; i++) worst = fmax(worst, fabs((double)a[i] - (double)b[i]) / scale);
    return worst;
}

static void check_weights(const float *w, int bits, int range, float *x, float *dx) {
    const int wpr = (K * bits + 31) / 32, groups = K / G;
    uint32_t codes[N * 64], dcodes_host[N * 64];
    float scales[N * (K / G)], zeros[N * (K / G)], dscales_host[N * (K / G)], dzeros_host[N * (K / G)];
    float back[N * K], dback[N * K], y[BIG_M * N], dy_host[BIG_M * N];
    lb_qweight q = {codes, scales, zeros, N, K, bits, G, LB_DTYPE_F32, 0};
    CHECK(lb_cpu_quantize_weights(w, K, &q, 0, range) == LB_OK, "cpu quantize: %s", lb_last_error());

    float *dw = (float *)to_device(w, sizeof(float) * N * K);
    lb_qweight dq = {(uint32_t *)to_device(NULL, 4u * N * wpr), to_device(NULL, sizeof scales), to_device(NULL, sizeof zeros),
                     N, K, bits, G, LB_DTYPE_F32, 0};
    CHECK(lb_cuda_quantize_weights(dw, K, &dq, 0, range, NULL) == LB_OK, "cuda quantize: %s", lb_cuda_last_error());
    to_host(dcodes_host, dq.codes, 4u * N * wpr);
    to_host(dscales_host, dq.scales, sizeof scales);
    to_host(dzeros_host, dq.zeros, sizeof zeros);
    CHECK(memcmp(codes, dcodes_host, 4u * N * wpr) == 0, "%d-bit range %d: codes differ from the CPU's", bits, range);
    CHECK(memcmp(scales, dscales_host, 4u * N * groups) == 0 && memcmp(zeros, dzeros_host, 4u * N * groups) == 0,
          "%d-bit range %d: scales or zeros differ", bits, range);

    float *dout = (float *)to_device(NULL, sizeof back);
    lb_cpu_dequantize_weights(&q, back, K);
    CHECK(lb_cuda_dequantize_weights(&dq, dout, K, NULL) == LB_OK, "cuda dequantize: %s", lb_cuda_last_error());
    to_host(dback, dout, sizeof back);
    CHECK(memcmp(back, dback, sizeof back) == 0, "%d-bit: dequantized weights differ", bits);

    for (int m = 1; m <= BIG_M; m += BIG_M - 1) { /* the CUDA-core and the tensor-core path */
        CHECK(lb_cpu_dequant_gemm(x, LB_DTYPE_F32, m, &q, NULL, y) == LB_OK, "cpu gemm: %s", lb_last_error());
        float *dy = (float *)to_device(NULL, sizeof y);
        CHECK(lb_cuda_dequant_gemm(dx, LB_DTYPE_F32, m, &dq, NULL, dy, NULL) == LB_OK, "cuda gemm: %s", lb_cuda_last_error());
        cudaDeviceSynchronize();
        to_host(dy_host, dy, sizeof(float) * m * N);
        const double tol = m == 1 ? 1e-5 : 5e-3; /* TF32 inputs on the tensor-core path */
        double d = max_rel_diff(dy_host, y, m * N);
        CHECK(d < tol, "%d-bit gemm m=%d: relative difference %g > %g", bits, m, d, tol);
        cudaFree(dy);
    }
    cudaFree(dw);
    cudaFree(dq.codes);
    cudaFree(dq.scales);
    cudaFree(dq.zeros);
    cudaFree(dout);
}

/* Copies count floats back from dev and compares them with the CPU's, relative to the largest |cpu|. */
static void compare(const char *what, const float *cpu, const float *dev, int count, double tol) {
    float *back = (float *)malloc(sizeof(float) * count);
    to_host(back, dev, sizeof(float) * count);
    double d = max_rel_diff(back, cpu, count);
    CHECK(d <= tol, "%s differs from the CPU's: %g > %g", what, d, tol);
    free(back);
}

/* The model ops and the channel reassembly, each once against the CPU (depth: the Java gpu tests). */
static void check_model_ops(void) {
    enum { B = 2, T = 5, H = 4, KVH = 2, HD = 16, R = B * T, W = H * HD, KVW = KVH * HD, V = 50 };
    static float x[R * W], nw[W], y[R * W], inv[R], k[R * KVW], v[R * KVW], out[R * W], probs[B * H * T * T], g[R * W];
    static float dq[R * W], dk[R * KVW], dv[R * KVW], dw[W], logits[R * V], losses[R];
    int32_t targets[R];
    for (int i = 0; i < R * W; i++) x[i] = sinf((float)i * 0.3f), g[i] = cosf((float)i * 0.7f);
    for (int i = 0; i < W; i++) nw[i] = 1.0f + 0.01f * (float)i;
    for (int i = 0; i < R * KVW; i++) k[i] = cosf((float)i * 0.2f), v[i] = sinf((float)i * 0.5f);
    for (int i = 0; i < R * V; i++) logits[i] = 3.0f * sinf((float)i * 1.3f);
    for (int i = 0; i < R; i++) targets[i] = (i * 7) % V;
    float *d_x = (float *)to_device(x, sizeof x), *d_nw = (float *)to_device(nw, sizeof nw), *d_g = (float *)to_device(g, sizeof g);
    float *d_k = (float *)to_device(k, sizeof k), *d_v = (float *)to_device(v, sizeof v), *d_inv = (float *)to_device(NULL, sizeof inv);
    float *d_y = (float *)to_device(NULL, sizeof y), *d_probs = (float *)to_device(NULL, sizeof probs);
    float *d_dq = (float *)to_device(NULL, sizeof dq), *d_dk = (float *)to_device(NULL, sizeof dk), *d_dv = (float *)to_device(NULL, sizeof dv);
    float *d_logits = (float *)to_device(logits, sizeof logits), *d_dl = (float *)to_device(NULL, sizeof logits);
    int32_t *d_targets = (int32_t *)to_device(targets, sizeof targets);

    lb_cpu_rmsnorm(x, nw, R, W, 1e-5f, y, inv);
    CHECK(lb_cuda_rmsnorm(d_x, d_nw, R, W, 1e-5f, d_y, d_inv, NULL) == LB_OK, "rmsnorm: %s", lb_cuda_last_error());
    compare("rmsnorm", y, d_y, R * W, 1e-6);
    memset(dw, 0, sizeof dw);
    float *d_dw = (float *)to_device(dw, sizeof dw);
    lb_cpu_rmsnorm_backward(x, nw, inv, g, R, W, out, dw);
    CHECK(lb_cuda_rmsnorm_backward(d_x, d_nw, d_inv, d_g, R, W, d_y, d_dw, NULL) == LB_OK, "rmsnorm_backward: %s", lb_cuda_last_error());
    compare("rmsnorm dx", out, d_y, R * W, 1e-5);
    compare("rmsnorm dw", dw, d_dw, W, 1e-6);

    memcpy(y, x, sizeof y);
    cudaMemcpy(d_y, x, sizeof y, cudaMemcpyHostToDevice);
    lb_cpu_rope(y, R, H, HD, 2, T, 10000.0f);
    CHECK(lb_cuda_rope(d_y, R, H, HD, 2, T, 10000.0f, NULL) == LB_OK, "rope: %s", lb_cuda_last_error());
    compare("rope", y, d_y, R * W, 1e-6);
    lb_cpu_rope_backward(y, R, H, HD, 2, T, 10000.0f);
    CHECK(lb_cuda_rope_backward(d_y, R, H, HD, 2, T, 10000.0f, NULL) == LB_OK, "rope_backward: %s", lb_cuda_last_error());
    compare("rope backward", y, d_y, R * W, 1e-6);

    lb_cpu_attention(x, k, v, 3, 4, H, KVH, HD, out); /* 3 rows at positions 4..6 over a cache of 7 */
    CHECK(lb_cuda_attention(d_x, d_k, d_v, 3, 4, H, KVH, HD, d_y, NULL) == LB_OK, "attention: %s", lb_cuda_last_error());
    compare("attention", out, d_y, 3 * W, 1e-5);
    lb_cpu_attention_train(x, k, v, B, T, H, KVH, HD, out, probs);
    CHECK(lb_cuda_attention_train(d_x, d_k, d_v, B, T, H, KVH, HD, d_y, d_probs, NULL) == LB_OK, "attention_train: %s",
          lb_cuda_last_error());
    compare("attention (training)", out, d_y, R * W, 1e-5);
    compare("attention weights", probs, d_probs, B * H * T * T, 1e-5);
    lb_cpu_attention_backward(x, k, v, probs, g, B, T, H, KVH, HD, dq, dk, dv);
    CHECK(lb_cuda_attention_backward(d_x, d_k, d_v, d_probs, d_g, B, T, H, KVH, HD, d_dq, d_dk, d_dv, NULL) == LB_OK,
          "attention_backward: %s", lb_cuda_last_error());
    compare("attention dq", dq, d_dq, R * W, 1e-5);
    compare("attention dk", dk, d_dk, R * KVW, 1e-5);
    compare("attention dv", dv, d_dv, R * KVW, 1e-5);

    lb_cpu_silu_gate(x, g, R * W, out);
    CHECK(lb_cuda_silu_gate(d_x, d_g, R * W, d_y, NULL) == LB_OK, "silu_gate: %s", lb_cuda_last_error());
    compare("silu gate", out, d_y, R * W, 1e-6);
    lb_cpu_silu_gate_backward(x, g, g, R * W, out, y);
    CHECK(lb_cuda_silu_gate_backward(d_x, d_g, d_g, R * W, d_dq, d_y, NULL) == LB_OK, "silu_gate_backward: %s", lb_cuda_last_error());
    compare("silu gate dgate", out, d_dq, R * W, 1e-6);
    compare("silu gate dup", y, d_y, R * W, 1e-6);

    lb_cpu_add_into(g, R * W, x);
    CHECK(lb_cuda_add_into(d_g, R * W, d_x, NULL) == LB_OK, "add_into: %s", lb_cuda_last_error());
    compare("add into", x, d_x, R * W, 0.0);

    static float ls[R * V];
    lb_cpu_log_softmax(logits, R, V, ls);
    CHECK(lb_cuda_log_softmax(d_logits, R, V, d_dl, NULL) == LB_OK, "log_softmax: %s", lb_cuda_last_error());
    compare("log-softmax", ls, d_dl, R * V, 1e-6);
    lb_cpu_cross_entropy(logits, targets, R, V, losses);
    CHECK(lb_cuda_cross_entropy(d_logits, d_targets, R, V, d_inv, NULL) == LB_OK, "cross_entropy: %s", lb_cuda_last_error());
    compare("cross-entropy", losses, d_inv, R, 1e-6);
    lb_cpu_cross_entropy_backward(logits, targets, R, V, 0.5f, ls);
    CHECK(lb_cuda_cross_entropy_backward(d_logits, d_targets, R, V, 0.5f, d_dl, NULL) == LB_OK, "cross_entropy_backward: %s",
          lb_cuda_last_error());
    compare("cross-entropy backward", ls, d_dl, R * V, 1e-6);
    targets[4] = V;
    cudaMemcpy(d_targets, targets, sizeof targets, cudaMemcpyHostToDevice);
    CHECK(lb_cuda_cross_entropy(d_logits, d_targets, R, V, d_inv, NULL) == LB_ERR_INVALID_ARGUMENT, "bad target accepted");
    CHECK(strstr(lb_cuda_last_error(), "row 4") != NULL, "bad target message: %s", lb_cuda_last_error());

    /* reassembly: W outputs from W / 2 inputs (each twice: halves of a split channel) */
    int32_t ia[W], ib[W];
    float sa[W], sb[W];
    for (int j = 0; j < W; j++) ia[j] = ib[j] = j / 2, sa[j] = 0.5f, sb[j] = 0.0f;
    int32_t *d_ia = (int32_t *)to_device(ia, sizeof ia), *d_ib = (int32_t *)to_device(ib, sizeof ib);
    float *d_sa = (float *)to_device(sa, sizeof sa), *d_sb = (float *)to_device(sb, sizeof sb);
    lb_cpu_channel_reassemble(x, R, W / 2, ia, ib, sa, sb, W, out);
    CHECK(lb_cuda_channel_reassemble(d_x, R, W / 2, d_ia, d_ib, d_sa, d_sb, W, d_y, NULL) == LB_OK, "channel_reassemble: %s",
          lb_cuda_last_error());
    compare("channel reassembly", out, d_y, R * W, 0.0);
    lb_cpu_channel_reassemble_backward(g, R, W, ia, ib, sa, sb, W / 2, out);
    CHECK(lb_cuda_channel_reassemble_backward(d_g, R, W, d_ia, d_ib, d_sa, d_sb, W / 2, d_y, NULL) == LB_OK,
          "channel_reassemble_backward: %s", lb_cuda_last_error());
    compare("channel reassembly backward", out, d_y, R * W / 2, 1e-6);
    ia[7] = W;
    cudaMemcpy(d_ia, ia, sizeof ia, cudaMemcpyHostToDevice);
    CHECK(lb_cuda_channel_reassemble(d_x, R, W / 2, d_ia, d_ib, d_sa, d_sb, W, d_y, NULL) == LB_ERR_INVALID_ARGUMENT,
          "bad map accepted");
    CHECK(strstr(lb_cuda_last_error(), "output channel 7") != NULL, "bad map message: %s", lb_cuda_last_error());
}

/* The integer GEMM's tensor-core path (m > 16) at 4 and 8 bits, with and without the weights' code sums. */
static void check_int_gemm_tensor_cores(const float *w, const float *x, const float *dx) {
    static uint8_t codes_a[BIG_M * K];
    static float y[BIG_M * N], back[BIG_M * N];
    float sa[BIG_M], za[BIG_M];
    uint8_t *d_codes = (uint8_t *)to_device(NULL, sizeof codes_a);
    float *d_sa = (float *)to_device(NULL, sizeof sa), *d_za = (float *)to_device(NULL, sizeof za), *d_y = (float *)to_device(NULL, sizeof y);
    for (int bits = 4; bits <= 8; bits += 4) {
        CHECK(lb_cpu_quantize_activations(x, BIG_M, K, bits, codes_a, sa, za) == LB_OK, "cpu activations: %s", lb_last_error());
        CHECK(lb_cuda_quantize_activations(dx, BIG_M, K, bits, d_codes, d_sa, d_za, NULL) == LB_OK, "cuda activations: %s",
              lb_cuda_last_error());
        uint32_t codes_w[N * K / 4];
        float scales[N * K / G], zeros[N * K / G];
        lb_qweight q = {codes_w, scales, zeros, N, K, bits, G, LB_DTYPE_F32, 0};
        lb_cpu_quantize_weights(w, K, &q, 0, LB_RANGE_MINMAX);
        const size_t code_bytes = 4u * N * (size_t)((K * bits + 31) / 32);
        lb_qweight dq = {(uint32_t *)to_device(codes_w, code_bytes), to_device(scales, sizeof scales), to_device(zeros, sizeof zeros),
                         N, K, bits, G, LB_DTYPE_F32, 0};
        int32_t *d_sums = (int32_t *)to_device(NULL, sizeof(int32_t) * N * (K / G));
        CHECK(lb_cuda_weight_code_sums(&dq, d_sums, NULL) == LB_OK, "code sums: %s", lb_cuda_last_error());
        CHECK(lb_cpu_int_gemm(codes_a, sa, za, BIG_M, &q, NULL, NULL, y) == LB_OK, "cpu int gemm: %s", lb_last_error());
        for (int given = 0; given < 2; given++) {
            CHECK(lb_cuda_int_gemm(d_codes, d_sa, d_za, BIG_M, &dq, given ? d_sums : NULL, NULL, d_y, NULL) == LB_OK,
                  "cuda int gemm (tensor cores): %s", lb_cuda_last_error());
            to_host(back, d_y, sizeof(float) * BIG_M * N);
            CHECK(max_rel_diff(back, y, BIG_M * N) < 1e-5, "W%dA%d tensor-core int gemm differs: %g", bits, bits,
                  max_rel_diff(back, y, BIG_M * N));
        }
        cudaFree(dq.codes);
        cudaFree(dq.scales);
        cudaFree(dq.zeros);
        cudaFree(d_sums);
    }
    cudaFree(d_codes);
    cudaFree(d_sa);
    cudaFree(d_za);
    cudaFree(d_y);
}

/* The Marlin small-M kernel on repacked codes (48 rows: a block with one tile of two) against the CPU's
 * dequant-GEMM on the same fp16 x or bf16-rounded fp32 x, group 128 and per-channel, with a bias; the
 * CUDA-core choice of the same call; and its refusals. */
static void check_marlin(void) {
    enum { MN = 48, MK = 512 };
    static float w[MN * MK], x[16 * MK], xb[16 * MK], bias[MN], y[16 * MN], back[16 * MN];
    static uint16_t xh_bits[16 * MK], xb_bits[16 * MK];
    static uint32_t codes[MN * MK / 8], packed_host[MN * MK / 8];
    static float scales[MN * (MK / 32)], zeros[MN * (MK / 32)];
    for (int i = 0; i < MN * MK; i++) w[i] = sinf((float)i * 0.61f) * (1.0f + (float)(i % 5));
    for (int i = 0; i < 16 * MK; i++) {
        const __half h = __float2half_rn(cosf((float)i * 0.13f));
        memcpy(&xh_bits[i], &h, 2);
        x[i] = __half2float(h); /* exactly representable in fp16 and, with 8 mantissa bits kept, close to bf16 */
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u &= 0xFFFF0000u; /* bf16 by truncation: the bf16 value exactly */
        memcpy(&xb[i], &u, 4);
        xb_bits[i] = (uint16_t)(u >> 16);
    }
    /* before any lb_cuda_set_small_m_kernel: the environment's choice (ctest: unset, so cuda-core) */
    const char *env = getenv("LOWBIT_CUDA_SMALL_M");
    const int from_env = !env || !*env || strcmp(env, "cuda-core") == 0 ? LB_SMALL_M_CUDA_CORE
                         : strcmp(env, "marlin") == 0                   ? LB_SMALL_M_MARLIN
                                                                        : -1;
    CHECK(lb_cuda_small_m_kernel() == from_env, "LOWBIT_CUDA_SMALL_M=%s read as %d", env ? env : "(unset)",
          (int)lb_cuda_small_m_kernel());
    for (int i = 0; i < MN; i++) bias[i] = 0.1f * (float)i;
    float *d_x = (float *)to_device(xh_bits, sizeof xh_bits), *d_xb = (float *)to_device(xb_bits, sizeof xb_bits);
    float *d_bias = (float *)to_device(bias, sizeof bias), *d_y = (float *)to_device(NULL, sizeof y);
    float *d_x32 = (float *)to_device(x, sizeof x);
    uint32_t *d_packed = (uint32_t *)to_device(NULL, sizeof codes);
    const int groups[] = {128, MK};
    for (int gi = 0; gi < 2; gi++) {
        const int g = groups[gi];
        lb_qweight q = {codes, scales, zeros, MN, MK, 4, g, LB_DTYPE_F16, 0};
        CHECK(lb_cpu_quantize_weights(w, MK, &q, 0, LB_RANGE_MINMAX) == LB_OK, "cpu quantize: %s", lb_last_error());
        const size_t params = 2u * MN * (MK / g);
        lb_qweight dq = {(uint32_t *)to_device(codes, sizeof codes), to_device(scales, params), to_device(zeros, params),
                         MN, MK, 4, g, LB_DTYPE_F16, 0};
        CHECK(lb_cuda_repack_marlin(&dq, d_packed, NULL) == LB_OK, "repack: %s", lb_cuda_last_error());
        to_host(packed_host, d_packed, sizeof codes);
        /* word 5 of tile (1, 3), lane 1: row 16 + 0, columns 64 * 3 + 32.., canonical word 3 * 8 + 4 + 1 */
        const int tile_word = (1 * (MK / 64) + 3) * 128 + 1 * 4 + 1;
        CHECK(packed_host[tile_word] == codes[16 * (MK / 8) + 3 * 8 + 4 + 1], "repacked word %d misplaced", tile_word);
        for (int kernel = LB_SMALL_M_CUDA_CORE; kernel <= LB_SMALL_M_MARLIN; kernel++) {
            CHECK(lb_cuda_set_small_m_kernel(kernel) == LB_OK && lb_cuda_small_m_kernel() == kernel, "kernel choice %d", kernel);
            const int ms[] = {1, 6, 16};
            for (int mi = 0; mi < 3; mi++) {
                const int m = ms[mi];
                for (int bf = 0; bf < 2; bf++) {
                    CHECK(lb_cpu_dequant_gemm(bf ? xb : x, LB_DTYPE_F32, m, &q, bias, y) == LB_OK, "cpu gemm: %s",
                          lb_last_error());
                    CHECK(lb_cuda_dequant_gemm_repacked(bf ? d_xb : d_x, bf ? LB_DTYPE_BF16 : LB_DTYPE_F16, m, &dq, d_packed,
                                                        d_bias, d_y, NULL) == LB_OK, "repacked gemm: %s", lb_cuda_last_error());
                    to_host(back, d_y, sizeof(float) * m * MN);
                    /* Marlin rounds the dequantized weights to x's type: fp16 2^-11, bf16 2^-8 relative */
                    const double tol = kernel == LB_SMALL_M_CUDA_CORE ? 1e-5 : bf ? 2e-2 : 3e-3;
                    const double d = max_rel_diff(back, y, m * MN);
                    CHECK(d < tol, "small-M kernel %d, g %d, m %d, %s x: relative difference %g > %g", kernel, g, m,
                          bf ? "bf16" : "fp16", d, tol);
                }
            }
            /* fp32 x takes the CUDA-core kernel whatever the choice */
            CHECK(lb_cpu_dequant_gemm(x, LB_DTYPE_F32, 3, &q, NULL, y) == LB_OK, "cpu gemm: %s", lb_last_error());
            CHECK(lb_cuda_dequant_gemm_repacked(d_x32, LB_DTYPE_F32, 3, &dq, d_packed, NULL, d_y, NULL) == LB_OK,
                  "repacked gemm, fp32 x: %s", lb_cuda_last_error());
            to_host(back, d_y, sizeof(float) * 3 * MN);
            CHECK(max_rel_diff(back, y, 3 * MN) < 1e-5, "repacked gemm, fp32 x: %g", max_rel_diff(back, y, 3 * MN));
        }
        cudaFree(dq.codes);
        cudaFree(dq.scales);
        cudaFree(dq.zeros);
    }
    lb_qweight odd = {codes, scales, zeros, 40, MK, 4, 128, LB_DTYPE_F16, 0};
    CHECK(lb_cuda_repack_marlin(&odd, d_packed, NULL) == LB_ERR_UNSUPPORTED, "n = 40 repacked");
    CHECK(strstr(lb_cuda_last_error(), "n % 16") != NULL, "message: %s", lb_cuda_last_error());
    odd.n = MN;
    odd.bits = 3;
    CHECK(lb_cuda_repack_marlin(&odd, d_packed, NULL) == LB_ERR_UNSUPPORTED, "3-bit weights repacked");
    odd.bits = 4;
    CHECK(lb_cuda_dequant_gemm_repacked(d_x, LB_DTYPE_F16, 1, &odd, NULL, NULL, d_y, NULL) == LB_ERR_INVALID_ARGUMENT,
          "NULL packed accepted");
    CHECK(lb_cuda_set_small_m_kernel(7) == LB_ERR_INVALID_ARGUMENT, "kernel 7 accepted");
    CHECK(lb_cuda_set_small_m_kernel(LB_SMALL_M_CUDA_CORE) == LB_OK, "reset the kernel choice");
    cudaFree(d_x);
    cudaFree(d_xb);
    cudaFree(d_x32);
    cudaFree(d_bias);
    cudaFree(d_y);
    cudaFree(d_packed);
}

int main(void) {
    if (lb_cuda_device_count() == 0) {
        printf("no CUDA GPU here: liblowbit_cuda's test is skipped\n");
        return 77;
    }
    static float w[N * K], x[BIG_M * K];
    for (int i = 0; i < N * K; i++) w[i] = sinf((float)i * 0.37f) * (1.0f + (float)(i % 7));
    for (int i = 0; i < BIG_M * K; i++) x[i] = cosf((float)i * 0.11f);
    float *dx = (float *)to_device(x, sizeof x);
    const int bits[] = {2, 3, 4, 6, 8};
    for (int b = 0; b < 5; b++)
        for (int range = 0; range < 2; range++) check_weights(w, bits[b], range, x, dx);

    /* activations and the integer GEMM */
    uint8_t acodes[M * K], dacodes_host[M * K];
    float as[M], az[M], das[M], daz[M];
    CHECK(lb_cpu_quantize_activations(x, M, K, 8, acodes, as, az) == LB_OK, "cpu activations: %s", lb_last_error());
    uint8_t *dacodes = (uint8_t *)to_device(NULL, sizeof acodes);
    float *dasc = (float *)to_device(NULL, sizeof as), *dazc = (float *)to_device(NULL, sizeof az);
    CHECK(lb_cuda_quantize_activations(dx, M, K, 8, dacodes, dasc, dazc, NULL) == LB_OK, "cuda activations: %s",
          lb_cuda_last_error());
    to_host(dacodes_host, dacodes, sizeof acodes);
    to_host(das, dasc, sizeof as);
    to_host(daz, dazc, sizeof az);
    CHECK(memcmp(acodes, dacodes_host, sizeof acodes) == 0 && memcmp(as, das, sizeof as) == 0 && memcmp(az, daz, sizeof az) == 0,
          "activation codes, scales or zeros differ");

    uint32_t codes[N * K / 8];
    float scales[N * K / G], zeros[N * K / G], y[M * N], dy_host[M * N];
    lb_qweight q = {codes, scales, zeros, N, K, 4, G, LB_DTYPE_F32, 0};
    lb_cpu_quantize_weights(w, K, &q, 0, LB_RANGE_MINMAX);
    lb_qweight dq = {(uint32_t *)to_device(codes, sizeof codes), to_device(scales, sizeof scales),
                     to_device(zeros, sizeof zeros), N, K, 4, G, LB_DTYPE_F32, 0};
    float *dy = (float *)to_device(NULL, sizeof y);
    CHECK(lb_cpu_int_gemm(acodes, as, az, M, &q, NULL, NULL, y) == LB_OK, "cpu int gemm: %s", lb_last_error());
    CHECK(lb_cuda_int_gemm(dacodes, dasc, dazc, M, &dq, NULL, NULL, dy, NULL) == LB_OK, "cuda int gemm: %s", lb_cuda_last_error());
    to_host(dy_host, dy, sizeof y);
    CHECK(max_rel_diff(dy_host, y, M * N) < 1e-5, "int gemm differs: %g", max_rel_diff(dy_host, y, M * N));
    check_int_gemm_tensor_cores(w, x, dx);

    check_model_ops();
    check_marlin();

    /* bad input: a status and a message, nothing launched */
    lb_qweight bad = dq;
    bad.bits = 5;
    CHECK(lb_cuda_dequant_gemm(dx, LB_DTYPE_F32, 1, &bad, NULL, dy, NULL) == LB_ERR_UNSUPPORTED, "5-bit weights accepted");
    CHECK(strstr(lb_cuda_last_error(), "5-bit") != NULL, "message: %s", lb_cuda_last_error());
    float nan_w[N * K];
    memcpy(nan_w, w, sizeof nan_w);
    nan_w[3 * K + 70] = NAN;
    float *dnan = (float *)to_device(nan_w, sizeof nan_w);
    CHECK(lb_cuda_quantize_weights(dnan, K, &dq, 0, LB_RANGE_MINMAX, NULL) == LB_ERR_NON_FINITE, "NaN accepted");
    CHECK(strstr(lb_cuda_last_error(), "[3, 64]") != NULL, "NaN message: %s", lb_cuda_last_error());

    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
#ifdef LB_CUDA_EMULATED
    else printf("liblowbit_cuda: all checks passed in the host emulation (not on a GPU)\n");
#else
    else printf("liblowbit_cuda: all checks passed on the GPU\n");
#endif
    return failures ? 1 : 0;
}
