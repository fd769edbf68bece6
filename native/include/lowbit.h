/*
 * lowbit.h - the one public C API of liblowbit (CPU) and liblowbit_cuda (GPU).
 *
 * Conventions
 *  - Every function that can fail returns lb_status (LB_OK = 0). The message of the last
 *    error on the calling thread is read with lb_last_error(). Nothing aborts, nothing prints.
 *  - Pointers come with explicit sizes. Callers (the Java side) validate shapes before the
 *    call; the library re-checks what it cheaply can and reports, never crashes.
 *  - The same function set exists per backend: lb_cpu_* here, lb_cuda_* in liblowbit_cuda.
 *
 * Quantized weight layout (one layout everywhere; see lb_qweight)
 *  - W is [n, k] (out features, in features), quantized in groups of g consecutive input
 *    channels; g is 32, 64, 128 or 256 and divides k, or g == k (per-channel).
 *  - Codes are unsigned b-bit integers, b in {2, 3, 4, 6, 8}, packed little-endian into uint32
 *    along k as one bit stream per row: code j of a row occupies bits [j*b, j*b + b) of the
 *    row's stream, bit i of the stream being bit (i % 32) of word (i / 32). Each row starts
 *    on a fresh word: words per row = ceil(k * b / 32). For b = 3, 32 codes fill 3 words.
 *  - Per (row, group) a scale s and a zero point z (fp32 or fp16, integer-valued z);
 *    the weight is w = s * (q - z).
 *  - Asymmetric ranges include 0 (as GPTQ): s = (max - min) / (2^b - 1), z = round(-min / s).
 *    Symmetric ranges: z = 2^(b-1), s = max|w| / (2^(b-1) - 1).
 *  - q = clamp(rint(w * (1/s)) + z, 0, 2^b - 1): the reciprocal rounded to fp32, then one fp32
 *    multiply (a true division w / s only where 1/s overflows), rint rounding half to even.
 */
#ifndef LOWBIT_H
#define LOWBIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t lb_status;

#define LB_OK 0
#define LB_ERR_INVALID_ARGUMENT 1 /* a shape, pointer, size or option is wrong */
#define LB_ERR_UNSUPPORTED 2      /* valid but not implemented (bits, group size, dtype) */
#define LB_ERR_NON_FINITE 3       /* NaN or Inf in an input */
#define LB_ERR_RANGE 4            /* a value does not fit the requested format */
#define LB_ERR_OUT_OF_MEMORY 5
#define LB_ERR_CUDA 6

#define LB_DTYPE_F32 0
#define LB_DTYPE_F16 1
#define LB_DTYPE_BF16 2

#define LB_RANGE_MINMAX 0 /* the group's min and max */
#define LB_RANGE_MSE 1    /* shrink the min-max range by the factor (of 1, 0.99, ..., 0.21)
                             that minimises the group's squared reconstruction error */

#define LB_SIMD_SCALAR 0
#define LB_SIMD_AVX2 1
#define LB_SIMD_AVX512 2

/* A group-quantized weight matrix; the caller owns every buffer it points to. */
typedef struct lb_qweight {
    uint32_t *codes;     /* [n][ceil(k * bits / 32)] */
    void *scales;        /* [n][k / group_size] of scale_dtype */
    void *zeros;         /* [n][k / group_size] of scale_dtype */
    int64_t n;           /* rows: output features */
    int64_t k;           /* columns: input features */
    int32_t bits;        /* 2, 3, 4, 6 or 8 */
    int32_t group_size;  /* 32, 64, 128, 256, or k */
    int32_t scale_dtype; /* LB_DTYPE_F32 or LB_DTYPE_F16 */
    int32_t reserved;    /* must be 0 */
} lb_qweight;

/* ---- library ---------------------------------------------------------------------- */

/* Message of the last failed call on this thread ("" if none). Valid until the next call. */
const char *lb_last_error(void);
/* "MAJOR.MINOR.PATCH". */
const char *lb_version(void);
/* Does nothing and returns x: the cost of a bare downcall. */
int32_t lb_nop(int32_t x);
/* Reads words 64-bit words once on the kernels' threads, doing nothing else with them, and
 * stores their sum (wrapping) in *sum: the read-bandwidth floor the benchmarks measure against. */
lb_status lb_cpu_read_sum(const uint64_t *p, int64_t words, uint64_t *sum);

/* SIMD level in use (LB_SIMD_*); the best the CPU supports unless lowered. */
int32_t lb_cpu_simd_level(void);
/* Best SIMD level this CPU and build support. */
int32_t lb_cpu_simd_level_max(void);
/* Use at most this SIMD level (for tests and comparisons); above the maximum is an error. */
lb_status lb_cpu_set_simd_level(int32_t level);
/* OpenMP threads the kernels use. */
int32_t lb_cpu_num_threads(void);
lb_status lb_cpu_set_num_threads(int32_t threads);

/* ---- weights ---------------------------------------------------------------------- */

/* Quantize w [n, k] (row stride ldw >= k floats) into out, whose codes/scales/zeros buffers
 * and n, k, bits, group_size, scale_dtype fields the caller has set. symmetric: 0 or 1;
 * range: LB_RANGE_*. Non-finite weights are an error. */
lb_status lb_cpu_quantize_weights(const float *w, int64_t ldw, lb_qweight *out,
                                  int32_t symmetric, int32_t range);

/* Codes for w [n, k] under the scales and zeros already in q (e.g. trained ones). */
lb_status lb_cpu_quantize_weights_with_params(const float *w, int64_t ldw, lb_qweight *q);

/* w [n, k] = s * (q - z), row stride ldw >= k. */
lb_status lb_cpu_dequantize_weights(const lb_qweight *q, float *w, int64_t ldw);

/* ---- GEMM ------------------------------------------------------------------------- */

/* y [m, n] = x [m, k] . dequant(W)^T + bias. x is fp32, fp16 or bf16 (x_dtype), rows contiguous;
 * bias [n] may be NULL. The weights are dequantized tile by tile, never whole. */
lb_status lb_cpu_dequant_gemm(const void *x, int32_t x_dtype, int64_t m, const lb_qweight *w,
                              const float *bias, float *y);

/* y [m, n] = x [m, k] . W^T, plus y when accumulate is 1 (0: y is overwritten), for dense weights
 * W [n, k] kept in half precision (w_dtype LB_DTYPE_F16 or LB_DTYPE_BF16), rows ldw >= k elements
 * apart, e.g. straight from a memory-mapped checkpoint; x fp32, rows contiguous. Each weight is
 * widened to fp32 exactly and the products are summed in fp32. */
lb_status lb_cpu_half_gemm(const float *x, int64_t m, int64_t k, const void *w, int32_t w_dtype, int64_t n,
                           int64_t ldw, int32_t accumulate, float *y);

/* dst [rows, cols] (contiguous) = src [rows, cols] of dtype (LB_DTYPE_F16 or LB_DTYPE_BF16, rows ld
 * >= cols elements apart) widened to fp32 exactly. */
lb_status lb_cpu_half_widen(const void *src, int32_t dtype, int64_t rows, int64_t cols, int64_t ld, float *dst);

/* Quantize-dequantize x [m, k] in place of a real quantizer (fake quantization, for bit widths
 * without an integer kernel and for training): per row and group of `group` consecutive columns
 * (group divides k; group = k: per row, i.e. per token for activations, per output channel for
 * weights) an asymmetric min-max range including 0, bits in 2..8; out = s * (q - z), bit-identical
 * to dequantizing lb_cpu_quantize_weights' (min-max, fp32 scales) or lb_cpu_quantize_activations'
 * codes. out may alias x. Non-finite inputs are an error. */
lb_status lb_cpu_fake_quant_groups(const float *x, int64_t m, int64_t k, int64_t group, int32_t bits, float *out);

/* Per-token dynamic asymmetric quantization of activations x [m, k] to bits (4 or 8):
 * codes [m, k] one unsigned code per byte, scales [m], zeros [m] (integer-valued). */
lb_status lb_cpu_quantize_activations(const float *x, int64_t m, int64_t k, int32_t bits,
                                      uint8_t *codes, float *scales, float *zeros);

/* QLLM channel reassembly, fused: out [m, k_out] with out[t, j] = sa[j] * x[t, ia[j]] + sb[j] *
 * x[t, ib[j]] for x [m, k_in]. A disassembled (split) channel c appears T times with ia = ib = c,
 * sa = 1/T, sb = 0; an assembled (merged) pair (c, d) once with sa = sb = 1/2; any other channel once
 * with sa = 1, sb = 0. Indices outside [0, k_in) and non-finite factors are errors. */
lb_status lb_cpu_channel_reassemble(const float *x, int64_t m, int64_t k_in, const int32_t *ia, const int32_t *ib,
                                    const float *sa, const float *sb, int64_t k_out, float *out);

/* The gradient of lb_cpu_channel_reassemble: dx [m, k_in] (overwritten) with dx[t, c] = sum over j
 * with ia[j] = c of sa[j] * dout[t, j] plus sum over j with ib[j] = c of sb[j] * dout[t, j]. */
lb_status lb_cpu_channel_reassemble_backward(const float *dout, int64_t m, int64_t k_out, const int32_t *ia,
                                             const int32_t *ib, const float *sa, const float *sb, int64_t k_in, float *dx);

/* Per row and group, the sum of w's codes: sums [n, k / group_size]. lb_cpu_int_gemm needs them
 * for the activations' zero point; compute them once per weight matrix and pass them along. */
lb_status lb_cpu_weight_code_sums(const lb_qweight *w, int32_t *sums);

/* Integer GEMM of quantized activations (codes [m, k], from lb_cpu_quantize_activations)
 * with 4- or 8-bit weights: y [m, n] = sa (qa - za) . (sw (qw - zw))^T + bias, products
 * summed exactly in int32 per group, fp32 out. w_sums: lb_cpu_weight_code_sums of w, or NULL to
 * have them computed on every call (an extra pass over the codes). bias may be NULL. */
lb_status lb_cpu_int_gemm(const uint8_t *a_codes, const float *a_scales, const float *a_zeros,
                          int64_t m, const lb_qweight *w, const int32_t *w_sums, const float *bias, float *y);

/* ---- fake quantization (training) ------------------------------------------------- */

/* out [n, k] = (mag * s) * (clamp(rint(w * (1/s)) + z, 0, 2^b - 1) - z) per group (bit-identical to
 * dequantizing those codes with the folded scale mag * s); scales, zeros,
 * magnitude are fp32 [n, k / group]; magnitude may be NULL (all ones). */
lb_status lb_cpu_fake_quant_forward(const float *w, int64_t n, int64_t k, int32_t bits,
                                    int32_t group_size, const float *scales, const float *zeros,
                                    const float *magnitude, float *out);

/* Straight-through backward of lb_cpu_fake_quant_forward given grad_out [n, k]:
 *   grad_w   = grad_out * mag where the clamp is inactive, 0 where it clips;
 *   grad_s   = sum over the group of grad_out * mag * ((q - z) - w / s inside, (q - z) clipped);
 *   grad_mag = sum over the group of grad_out * s * (q - z).
 * Each output may be NULL; grad_scales and grad_magnitude are overwritten, not accumulated. */
lb_status lb_cpu_fake_quant_backward(const float *w, int64_t n, int64_t k, int32_t bits,
                                     int32_t group_size, const float *scales, const float *zeros,
                                     const float *magnitude, const float *grad_out,
                                     float *grad_w, float *grad_scales, float *grad_magnitude);

/* ---- model ops (fp32, row-major) --------------------------------------------------- */

/* y [m, d] = x * w / sqrt(mean(x^2) + eps) per row; inv_rms [m] (may be NULL) receives the
 * 1 / sqrt(mean(x^2) + eps) of each row. y may alias x. */
lb_status lb_cpu_rmsnorm(const float *x, const float *w, int64_t m, int64_t d, float eps, float *y, float *inv_rms);

/* Rotary embedding in place on x [m, heads, head_dim], llama2.c's interleaved convention: the
 * pair (2i, 2i+1) of each head turns by pos * theta^(-2i / head_dim), where row r has position
 * pos0 + r % period (period = m for one sequence, T for a batch of sequences of length T). */
lb_status lb_cpu_rope(float *x, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period, float theta);

/* Causal grouped-query attention of m query rows at positions pos0 .. pos0 + m - 1 over a cache
 * holding keys and values of positions 0 .. pos0 + m - 1: q [m, heads, head_dim], k and v
 * [>= pos0 + m, kv_heads, head_dim], out [m, heads, head_dim]. Query head h reads key/value head
 * h / (heads / kv_heads); weights softmax(q . k / sqrt(head_dim)). */
lb_status lb_cpu_attention(const float *q, const float *k, const float *v, int64_t m, int64_t pos0, int64_t heads,
                           int64_t kv_heads, int64_t head_dim, float *out);

/* out [n] = silu(gate) * up, silu(g) = g / (1 + exp(-g)). out may alias gate or up. */
lb_status lb_cpu_silu_gate(const float *gate, const float *up, int64_t n, float *out);

/* acc [n] += x [n] (the residual connections). */
lb_status lb_cpu_add_into(const float *x, int64_t n, float *acc);

/* out [m, n] = log softmax of each row of x (out may alias x). */
lb_status lb_cpu_log_softmax(const float *x, int64_t m, int64_t n, float *out);

/* losses [m] = logsumexp(logits row) - logits[row, target]; targets in [0, vocab). */
lb_status lb_cpu_cross_entropy(const float *logits, const int32_t *targets, int64_t m, int64_t vocab, float *losses);

/* ---- model op backward passes (training) -------------------------------------------- */

/* Given x, w, inv_rms from lb_cpu_rmsnorm and dy [m, d]: dx [m, d] (overwritten) and dw [d]
 * (accumulated: dw += ...). */
lb_status lb_cpu_rmsnorm_backward(const float *x, const float *w, const float *inv_rms, const float *dy, int64_t m,
                                  int64_t d, float *dx, float *dw);

/* The gradient of lb_cpu_rope, in place on dx (the inverse rotation). */
lb_status lb_cpu_rope_backward(float *dx, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period,
                               float theta);

/* Causal attention over b sequences of t tokens each (rows b * t): q [b*t, heads*hd],
 * k and v [b*t, kv_heads*hd] -> out [b*t, heads*hd]; probs [b, heads, t, t] (may be NULL)
 * receives the softmax weights for the backward pass. */
lb_status lb_cpu_attention_train(const float *q, const float *k, const float *v, int64_t b, int64_t t, int64_t heads,
                                 int64_t kv_heads, int64_t head_dim, float *out, float *probs);

/* Backward of lb_cpu_attention_train from dout and the saved probs: dq, dk, dv (overwritten). */
lb_status lb_cpu_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                                    const float *dout, int64_t b, int64_t t, int64_t heads, int64_t kv_heads,
                                    int64_t head_dim, float *dq, float *dk, float *dv);

/* Backward of lb_cpu_silu_gate: dgate, dup (overwritten; may alias dout). */
lb_status lb_cpu_silu_gate_backward(const float *gate, const float *up, const float *dout, int64_t n, float *dgate,
                                    float *dup);

/* dlogits [m, vocab] = (softmax(logits) - onehot(target)) * scale: the gradient of
 * scale * sum of lb_cpu_cross_entropy's losses. dlogits may alias logits. */
lb_status lb_cpu_cross_entropy_backward(const float *logits, const int32_t *targets, int64_t m, int64_t vocab,
                                        float scale, float *dlogits);

/* ---- CUDA backend (liblowbit_cuda) ----------------------------------------------------
 * The same kernels on an NVIDIA GPU (sm_80 and newer). Every pointer, including those inside
 * lb_qweight, is device memory; the lb_qweight struct itself is read on the host. Work is queued
 * on `stream` (NULL: the legacy default stream) and runs asynchronously, except where a function
 * says it synchronizes: those that must report a property of the data (NaN, a bad scale, an index
 * out of range) copy one flag back and wait for the stream. Errors are read with
 * lb_cuda_last_error(). Results equal the CPU kernels' bit for bit where stated, otherwise up to
 * fp32 summation order (and the tensor-core input precision of the GEMM, see below). */
struct CUstream_st;
typedef struct CUstream_st *lb_cuda_stream; /* = cudaStream_t */

const char *lb_cuda_last_error(void);
/* "MAJOR.MINOR.PATCH" of liblowbit_cuda. */
const char *lb_cuda_version(void);
/* The CUDA runtime version liblowbit_cuda was built with (e.g. 13000); it links cudart statically. */
int32_t lb_cuda_runtime_version(void);
/* GPUs the driver reports (0 without a driver or GPU: not an error). */
int32_t lb_cuda_device_count(void);

/* Synchronizes; codes, scales and zeros bit-identical to lb_cpu_quantize_weights. */
lb_status lb_cuda_quantize_weights(const float *w, int64_t ldw, const lb_qweight *out, int32_t symmetric,
                                   int32_t range, lb_cuda_stream stream);
/* Synchronizes (checks the given scales and zeros, and the weights); bit-identical codes. */
lb_status lb_cuda_quantize_weights_with_params(const float *w, int64_t ldw, const lb_qweight *q, lb_cuda_stream stream);
/* Bit-identical to lb_cpu_dequantize_weights. */
lb_status lb_cuda_dequantize_weights(const lb_qweight *q, float *w, int64_t ldw, lb_cuda_stream stream);
/* y [m, n] = x [m, k] . dequant(W)^T + bias, x fp32, fp16 or bf16, fp32 accumulation. m <= 16: one pass
 * over the weights on CUDA cores, any bits; larger m: tensor cores, with x and the dequantized weights
 * rounded to x's dtype (fp32 x: to TF32). Does not check x for NaN (it propagates to y). */
lb_status lb_cuda_dequant_gemm(const void *x, int32_t x_dtype, int64_t m, const lb_qweight *w, const float *bias,
                               float *y, lb_cuda_stream stream);

/* The two small-M (m <= 16) dequant-GEMM kernels, raced on a GPU (scripts/gpu-check.sh) to pick one:
 * LB_SMALL_M_CUDA_CORE, lb_cuda_dequant_gemm's (4-byte loads of the canonical codes, fp32 FMAs on CUDA
 * cores), and LB_SMALL_M_MARLIN (16-byte loads of a repacked copy, dequantization in registers, WMMA
 * fp16/bf16 tensor cores with fp32 accumulation, warps splitting k; src/cuda/gemm_marlin.cu documents
 * the layout). */
#define LB_SMALL_M_CUDA_CORE 0
#define LB_SMALL_M_MARLIN 1
/* The kernel lb_cuda_dequant_gemm_repacked uses at m <= 16: the last lb_cuda_set_small_m_kernel, else the
 * environment's LOWBIT_CUDA_SMALL_M (cuda-core, the default, or marlin) read at the first call; -1 where
 * that names neither. */
int32_t lb_cuda_small_m_kernel(void);
lb_status lb_cuda_set_small_m_kernel(int32_t kernel);
/* Copies w's codes (4 bits, k % 64 == 0, n % 16 == 0) into packed (n * k / 8 words, device memory,
 * 16-byte aligned) in the Marlin kernel's tiled layout, once at quantization or load time. */
lb_status lb_cuda_repack_marlin(const lb_qweight *w, uint32_t *packed, lb_cuda_stream stream);
/* lb_cuda_dequant_gemm for weights with a repacked copy: at m <= 16 with fp16 or bf16 x, the kernel
 * lb_cuda_small_m_kernel names (Marlin: x and the dequantized weights rounded to x's dtype); fp32 x, x not
 * 16-byte aligned and m > 16 take lb_cuda_dequant_gemm's kernels on the canonical codes. */
lb_status lb_cuda_dequant_gemm_repacked(const void *x, int32_t x_dtype, int64_t m, const lb_qweight *w,
                                        const uint32_t *packed, const float *bias, float *y, lb_cuda_stream stream);
/* Per-token quantization as lb_cpu_quantize_activations (bit-identical); a row holding NaN or Inf gets
 * a NaN scale instead of an error (no synchronization on this hot path). */
lb_status lb_cuda_quantize_activations(const float *x, int64_t m, int64_t k, int32_t bits, uint8_t *codes,
                                       float *scales, float *zeros, lb_cuda_stream stream);
/* Synchronizes (NaN check); bit-identical to lb_cpu_fake_quant_groups. */
lb_status lb_cuda_fake_quant_groups(const float *x, int64_t m, int64_t k, int64_t group, int32_t bits, float *out,
                                    lb_cuda_stream stream);
/* As lb_cpu_weight_code_sums. */
lb_status lb_cuda_weight_code_sums(const lb_qweight *w, int32_t *sums, lb_cuda_stream stream);
/* As lb_cpu_int_gemm. m <= 16: exact integer products per code word (dp4a), scaled per word; larger m
 * (k and the group size multiples of 32): int8 tensor cores, exact int32 sums per group, scaled per
 * group. w_sums may be NULL (then computed on every call, in stream-ordered scratch). */
lb_status lb_cuda_int_gemm(const uint8_t *a_codes, const float *a_scales, const float *a_zeros, int64_t m,
                           const lb_qweight *w, const int32_t *w_sums, const float *bias, float *y, lb_cuda_stream stream);
/* Synchronizes (checks scales and weights); forward bit-identical to lb_cpu_fake_quant_forward. */
lb_status lb_cuda_fake_quant_forward(const float *w, int64_t n, int64_t k, int32_t bits, int32_t group_size,
                                     const float *scales, const float *zeros, const float *magnitude, float *out,
                                     lb_cuda_stream stream);
/* Synchronizes; grad_w bit-identical, the group sums up to summation order. */
lb_status lb_cuda_fake_quant_backward(const float *w, int64_t n, int64_t k, int32_t bits, int32_t group_size,
                                      const float *scales, const float *zeros, const float *magnitude,
                                      const float *grad_out, float *grad_w, float *grad_scales, float *grad_magnitude,
                                      lb_cuda_stream stream);

/* QLLM channel reassembly and its gradient as the lb_cpu_ ones. Both synchronize (the map's indices
 * and factors are checked on the GPU first). The forward is bit-identical; the backward adds with
 * atomics, so its sums may differ from the CPU's in the order of additions. */
lb_status lb_cuda_channel_reassemble(const float *x, int64_t m, int64_t k_in, const int32_t *ia, const int32_t *ib,
                                     const float *sa, const float *sb, int64_t k_out, float *out, lb_cuda_stream stream);
lb_status lb_cuda_channel_reassemble_backward(const float *dout, int64_t m, int64_t k_out, const int32_t *ia,
                                              const int32_t *ib, const float *sa, const float *sb, int64_t k_in, float *dx,
                                              lb_cuda_stream stream);

/* The model ops and their backward passes as the lb_cpu_ ones, same arguments plus the stream. Row
 * sums run in parallel (in double where the CPU sums in double), and expf/exp/pow/sin/cos are CUDA's,
 * so results agree with the CPU's to fp32 rounding, not bit for bit, except where noted.
 * Attention keeps a row's scores in shared memory: contexts up to the GPU's per-block limit (about
 * 12k positions at 48 KB, more where the GPU allows it). */
lb_status lb_cuda_rmsnorm(const float *x, const float *w, int64_t m, int64_t d, float eps, float *y, float *inv_rms,
                          lb_cuda_stream stream);
lb_status lb_cuda_rope(float *x, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period, float theta,
                       lb_cuda_stream stream);
lb_status lb_cuda_attention(const float *q, const float *k, const float *v, int64_t m, int64_t pos0, int64_t heads,
                            int64_t kv_heads, int64_t head_dim, float *out, lb_cuda_stream stream);
lb_status lb_cuda_silu_gate(const float *gate, const float *up, int64_t n, float *out, lb_cuda_stream stream);
lb_status lb_cuda_add_into(const float *x, int64_t n, float *acc, lb_cuda_stream stream);
lb_status lb_cuda_log_softmax(const float *x, int64_t m, int64_t n, float *out, lb_cuda_stream stream);
/* Synchronizes (checks the targets). */
lb_status lb_cuda_cross_entropy(const float *logits, const int32_t *targets, int64_t m, int64_t vocab, float *losses,
                                lb_cuda_stream stream);
/* dw is accumulated in the CPU's order: bit-identical given the same inv_rms. */
lb_status lb_cuda_rmsnorm_backward(const float *x, const float *w, const float *inv_rms, const float *dy, int64_t m,
                                   int64_t d, float *dx, float *dw, lb_cuda_stream stream);
lb_status lb_cuda_rope_backward(float *dx, int64_t m, int64_t heads, int64_t head_dim, int64_t pos0, int64_t period,
                                float theta, lb_cuda_stream stream);
lb_status lb_cuda_attention_train(const float *q, const float *k, const float *v, int64_t b, int64_t t, int64_t heads,
                                  int64_t kv_heads, int64_t head_dim, float *out, float *probs, lb_cuda_stream stream);
/* Needs b * heads * t * t floats of device scratch for a moment (stream-ordered allocation). */
lb_status lb_cuda_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                                     const float *dout, int64_t b, int64_t t, int64_t heads, int64_t kv_heads,
                                     int64_t head_dim, float *dq, float *dk, float *dv, lb_cuda_stream stream);
lb_status lb_cuda_silu_gate_backward(const float *gate, const float *up, const float *dout, int64_t n, float *dgate,
                                     float *dup, lb_cuda_stream stream);
/* Synchronizes (checks the targets). */
lb_status lb_cuda_cross_entropy_backward(const float *logits, const int32_t *targets, int64_t m, int64_t vocab,
                                         float scale, float *dlogits, lb_cuda_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_H */
