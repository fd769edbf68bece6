package dev.lowbit.runtime.kernels;

import static dev.lowbit.bindings.lowbit.lowbit_h.*;
import static dev.lowbit.runtime.kernels.cpu.Native.check;

import dev.lowbit.runtime.kernels.cpu.Blas;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/** The host backend: liblowbit's lb_cpu_* functions and CBLAS. */
final class CpuBackend implements Backend {
    static final CpuBackend INSTANCE = new CpuBackend();

    private static final DType[] GEMM_TYPES = {DType.F32};

    static {
        Native.ensureLoaded(); // the bindings resolve symbols in libraries already loaded
    }

    private CpuBackend() {}

    @Override
    public void quantizeWeights(
            MemorySegment w, long ldw, MemorySegment out, int symmetric, int range, String operation) {
        check(lb_cpu_quantize_weights(w, ldw, out, symmetric, range), operation);
    }

    @Override
    public void quantizeWeightsWithParams(MemorySegment w, long ldw, MemorySegment q) {
        check(lb_cpu_quantize_weights_with_params(w, ldw, q), "quantize with given scales");
    }

    @Override
    public void dequantizeWeights(MemorySegment q, MemorySegment w, long ldw) {
        check(lb_cpu_dequantize_weights(q, w, ldw), "dequantize");
    }

    @Override
    public void dequantGemm(MemorySegment x, int xDtype, long m, MemorySegment w, MemorySegment bias, MemorySegment y) {
        check(lb_cpu_dequant_gemm(x, xDtype, m, w, bias, y), "dequant-GEMM");
    }

    @Override
    public void fakeQuantGroups(MemorySegment x, long m, long k, long group, int bits, MemorySegment out) {
        check(lb_cpu_fake_quant_groups(x, m, k, group, bits, out), "fake quantization");
    }

    @Override
    public void quantizeActivations(
            MemorySegment x, long m, long k, int bits, MemorySegment codes, MemorySegment scales, MemorySegment zeros) {
        check(lb_cpu_quantize_activations(x, m, k, bits, codes, scales, zeros), "quantize activations");
    }

    @Override
    public void channelReassemble(
            MemorySegment x,
            long m,
            long kIn,
            MemorySegment ia,
            MemorySegment ib,
            MemorySegment sa,
            MemorySegment sb,
            long kOut,
            MemorySegment out) {
        check(lb_cpu_channel_reassemble(x, m, kIn, ia, ib, sa, sb, kOut, out), "channel reassembly");
    }

    @Override
    public void channelReassembleBackward(
            MemorySegment dout,
            long m,
            long kOut,
            MemorySegment ia,
            MemorySegment ib,
            MemorySegment sa,
            MemorySegment sb,
            long kIn,
            MemorySegment dx) {
        check(
                lb_cpu_channel_reassemble_backward(dout, m, kOut, ia, ib, sa, sb, kIn, dx),
                "channel reassembly backward");
    }

    @Override
    public void weightCodeSums(MemorySegment w, MemorySegment sums) {
        check(lb_cpu_weight_code_sums(w, sums), "weight code sums");
    }

    @Override
    public void intGemm(
            MemorySegment aCodes,
            MemorySegment aScales,
            MemorySegment aZeros,
            long m,
            MemorySegment w,
            MemorySegment wSums,
            MemorySegment bias,
            MemorySegment y) {
        check(lb_cpu_int_gemm(aCodes, aScales, aZeros, m, w, wSums, bias, y), "integer GEMM");
    }

    @Override
    public void fakeQuantForward(
            MemorySegment w,
            long n,
            long k,
            int bits,
            int groupSize,
            MemorySegment scales,
            MemorySegment zeros,
            MemorySegment magnitude,
            MemorySegment out) {
        check(lb_cpu_fake_quant_forward(w, n, k, bits, groupSize, scales, zeros, magnitude, out), "fake-quant forward");
    }

    @Override
    public void fakeQuantBackward(
            MemorySegment w,
            long n,
            long k,
            int bits,
            int groupSize,
            MemorySegment scales,
            MemorySegment zeros,
            MemorySegment magnitude,
            MemorySegment gradOut,
            MemorySegment gradW,
            MemorySegment gradScales,
            MemorySegment gradMagnitude) {
        check(
                lb_cpu_fake_quant_backward(
                        w, n, k, bits, groupSize, scales, zeros, magnitude, gradOut, gradW, gradScales, gradMagnitude),
                "fake-quant backward");
    }

    @Override
    public void rmsnorm(
            MemorySegment x, MemorySegment w, long m, long d, float eps, MemorySegment y, MemorySegment invRms) {
        check(lb_cpu_rmsnorm(x, w, m, d, eps, y, invRms), "RMSNorm");
    }

    @Override
    public void rope(MemorySegment x, long m, long heads, long headDim, long pos0, long period, float theta) {
        check(lb_cpu_rope(x, m, heads, headDim, pos0, period, theta), "RoPE");
    }

    @Override
    public void attention(
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            long m,
            long pos0,
            long heads,
            long kvHeads,
            long headDim,
            MemorySegment out) {
        check(lb_cpu_attention(q, k, v, m, pos0, heads, kvHeads, headDim, out), "attention");
    }

    @Override
    public void siluGate(MemorySegment gate, MemorySegment up, long n, MemorySegment out) {
        check(lb_cpu_silu_gate(gate, up, n, out), "SiLU gate");
    }

    @Override
    public void addInto(MemorySegment x, long n, MemorySegment acc) {
        check(lb_cpu_add_into(x, n, acc), "add");
    }

    @Override
    public void logSoftmax(MemorySegment x, long m, long n, MemorySegment out) {
        check(lb_cpu_log_softmax(x, m, n, out), "log-softmax");
    }

    @Override
    public void crossEntropy(MemorySegment logits, MemorySegment targets, long m, long vocab, MemorySegment losses) {
        check(lb_cpu_cross_entropy(logits, targets, m, vocab, losses), "cross-entropy");
    }

    @Override
    public void rmsnormBackward(
            MemorySegment x,
            MemorySegment w,
            MemorySegment invRms,
            MemorySegment dy,
            long m,
            long d,
            MemorySegment dx,
            MemorySegment dw) {
        check(lb_cpu_rmsnorm_backward(x, w, invRms, dy, m, d, dx, dw), "RMSNorm backward");
    }

    @Override
    public void ropeBackward(MemorySegment dx, long m, long heads, long headDim, long pos0, long period, float theta) {
        check(lb_cpu_rope_backward(dx, m, heads, headDim, pos0, period, theta), "RoPE backward");
    }

    @Override
    public void attentionTrain(
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            long b,
            long t,
            long heads,
            long kvHeads,
            long headDim,
            MemorySegment out,
            MemorySegment probs) {
        check(lb_cpu_attention_train(q, k, v, b, t, heads, kvHeads, headDim, out, probs), "attention (training)");
    }

    @Override
    public void attentionBackward(
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            MemorySegment probs,
            MemorySegment dout,
            long b,
            long t,
            long heads,
            long kvHeads,
            long headDim,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv) {
        check(
                lb_cpu_attention_backward(q, k, v, probs, dout, b, t, heads, kvHeads, headDim, dq, dk, dv),
                "attention backward");
    }

    @Override
    public void siluGateBackward(
            MemorySegment gate, MemorySegment up, MemorySegment dout, long n, MemorySegment dgate, MemorySegment dup) {
        check(lb_cpu_silu_gate_backward(gate, up, dout, n, dgate, dup), "SiLU gate backward");
    }

    @Override
    public void crossEntropyBackward(
            MemorySegment logits, MemorySegment targets, long m, long vocab, float scale, MemorySegment dlogits) {
        check(lb_cpu_cross_entropy_backward(logits, targets, m, vocab, scale, dlogits), "cross-entropy backward");
    }

    @Override
    public DType[] gemmTypes() {
        return GEMM_TYPES.clone();
    }

    @Override
    public void gemm(
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            float alpha,
            Tensor a,
            long lda,
            Tensor b,
            long ldb,
            float beta,
            Tensor c) {
        // y = W x with W [n, k] row-major: the memory-bound GEMV
        if (m == 1 && transB && !transA) Blas.sgemv(n, k, alpha, b.segment(), ldb, a.segment(), beta, c.segment());
        else Blas.sgemm(transA, transB, m, n, k, alpha, a.segment(), lda, b.segment(), ldb, beta, c.segment(), n);
    }
}
