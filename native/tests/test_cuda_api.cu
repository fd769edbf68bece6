/* C-level smoke test of liblowbit_cuda: each kernel against the CPU kernel on the same inputs
 * (bit-identical where lowbit.h says so), and a status code with a message on bad input. Exits 77
 * (ctest: skipped) where no GPU is present. The numerics are tested in depth from Java (tag gpu). */
#include "check.h"
#include "lowbit.h"

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
    else printf("liblowbit_cuda: all checks passed on the GPU\n");
    return failures ? 1 : 0;
}
