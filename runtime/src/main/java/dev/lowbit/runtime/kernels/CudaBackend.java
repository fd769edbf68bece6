package dev.lowbit.runtime.kernels;

import static dev.lowbit.bindings.lowbit_cuda.lowbit_cuda_h.*;
import static dev.lowbit.runtime.kernels.cuda.Cuda.checkKernel;

import dev.lowbit.runtime.kernels.cuda.Cublas;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.kernels.cuda.CudaStream;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The backend of one GPU: liblowbit_cuda's lb_cuda_* functions and cuBLAS, queued on the stream this thread
 * uses for the GPU (looked up at every call: a {@link CudaStream} scope may change it).
 */
final class CudaBackend implements Backend {
    private static final ConcurrentMap<Device, CudaBackend> BACKENDS = new ConcurrentHashMap<>();
    private static final DType[] GEMM_TYPES = {DType.F32, DType.F16, DType.BF16};

    private final Device device;

    private CudaBackend(Device device) {
        this.device = device;
    }

    /** The backend of device, after making it the current GPU (an exception saying why it cannot be used). */
    static CudaBackend on(Device device) {
        Cuda.use(device);
        return BACKENDS.computeIfAbsent(device, CudaBackend::new);
    }

    private MemorySegment stream() {
        return Cuda.stream(device);
    }

    @Override
    public void quantizeWeights(
            MemorySegment w, long ldw, MemorySegment out, int symmetric, int range, String operation) {
        checkKernel(lb_cuda_quantize_weights(w, ldw, out, symmetric, range, stream()), operation);
    }

    @Override
    public void quantizeWeightsWithParams(MemorySegment w, long ldw, MemorySegment q) {
        checkKernel(lb_cuda_quantize_weights_with_params(w, ldw, q, stream()), "quantize with given scales");
    }

    @Override
    public void dequantizeWeights(MemorySegment q, MemorySegment w, long ldw) {
        checkKernel(lb_cuda_dequantize_weights(q, w, ldw, stream()), "dequantize");
    }

    @Override
    public void dequantGemm(MemorySegment x, int xDtype, long m, MemorySegment w, MemorySegment bias, MemorySegment y) {
        checkKernel(lb_cuda_dequant_gemm(x, xDtype, m, w, bias, y, stream()), "dequant-GEMM");
    }

    @Override
    public void fakeQuantGroups(MemorySegment x, long m, long k, long group, int bits, MemorySegment out) {
        checkKernel(lb_cuda_fake_quant_groups(x, m, k, group, bits, out, stream()), "fake quantization");
    }

    @Override
    public void quantizeActivations(
            MemorySegment x, long m, long k, int bits, MemorySegment codes, MemorySegment scales, MemorySegment zeros) {
        checkKernel(
                lb_cuda_quantize_activations(x, m, k, bits, codes, scales, zeros, stream()), "quantize activations");
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
        checkKernel(lb_cuda_channel_reassemble(x, m, kIn, ia, ib, sa, sb, kOut, out, stream()), "channel reassembly");
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
        checkKernel(
                lb_cuda_channel_reassemble_backward(dout, m, kOut, ia, ib, sa, sb, kIn, dx, stream()),
                "channel reassembly backward");
    }

    @Override
    public void weightCodeSums(MemorySegment w, MemorySegment sums) {
        checkKernel(lb_cuda_weight_code_sums(w, sums, stream()), "weight code sums");
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
        checkKernel(lb_cuda_int_gemm(aCodes, aScales, aZeros, m, w, wSums, bias, y, stream()), "integer GEMM");
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
        checkKernel(
                lb_cuda_fake_quant_forward(w, n, k, bits, groupSize, scales, zeros, magnitude, out, stream()),
                "fake-quant forward");
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
        checkKernel(
                lb_cuda_fake_quant_backward(
                        w,
                        n,
                        k,
                        bits,
                        groupSize,
                        scales,
                        zeros,
                        magnitude,
                        gradOut,
                        gradW,
                        gradScales,
                        gradMagnitude,
                        stream()),
                "fake-quant backward");
    }

    @Override
    public void rmsnorm(
            MemorySegment x, MemorySegment w, long m, long d, float eps, MemorySegment y, MemorySegment invRms) {
        checkKernel(lb_cuda_rmsnorm(x, w, m, d, eps, y, invRms, stream()), "RMSNorm");
    }

    @Override
    public void rope(MemorySegment x, long m, long heads, long headDim, long pos0, long period, float theta) {
        checkKernel(lb_cuda_rope(x, m, heads, headDim, pos0, period, theta, stream()), "RoPE");
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
        checkKernel(lb_cuda_attention(q, k, v, m, pos0, heads, kvHeads, headDim, out, stream()), "attention");
    }

    @Override
    public void siluGate(MemorySegment gate, MemorySegment up, long n, MemorySegment out) {
        checkKernel(lb_cuda_silu_gate(gate, up, n, out, stream()), "SiLU gate");
    }

    @Override
    public void addInto(MemorySegment x, long n, MemorySegment acc) {
        checkKernel(lb_cuda_add_into(x, n, acc, stream()), "add");
    }

    @Override
    public void logSoftmax(MemorySegment x, long m, long n, MemorySegment out) {
        checkKernel(lb_cuda_log_softmax(x, m, n, out, stream()), "log-softmax");
    }

    @Override
    public void crossEntropy(MemorySegment logits, MemorySegment targets, long m, long vocab, MemorySegment losses) {
        checkKernel(lb_cuda_cross_entropy(logits, targets, m, vocab, losses, stream()), "cross-entropy");
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
        checkKernel(lb_cuda_rmsnorm_backward(x, w, invRms, dy, m, d, dx, dw, stream()), "RMSNorm backward");
    }

    @Override
    public void ropeBackward(MemorySegment dx, long m, long heads, long headDim, long pos0, long period, float theta) {
        checkKernel(lb_cuda_rope_backward(dx, m, heads, headDim, pos0, period, theta, stream()), "RoPE backward");
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
        checkKernel(
                lb_cuda_attention_train(q, k, v, b, t, heads, kvHeads, headDim, out, probs, stream()),
                "attention (training)");
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
        checkKernel(
                lb_cuda_attention_backward(q, k, v, probs, dout, b, t, heads, kvHeads, headDim, dq, dk, dv, stream()),
                "attention backward");
    }

    @Override
    public void siluGateBackward(
            MemorySegment gate, MemorySegment up, MemorySegment dout, long n, MemorySegment dgate, MemorySegment dup) {
        checkKernel(lb_cuda_silu_gate_backward(gate, up, dout, n, dgate, dup, stream()), "SiLU gate backward");
    }

    @Override
    public void crossEntropyBackward(
            MemorySegment logits, MemorySegment targets, long m, long vocab, float scale, MemorySegment dlogits) {
        checkKernel(
                lb_cuda_cross_entropy_backward(logits, targets, m, vocab, scale, dlogits, stream()),
                "cross-entropy backward");
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
        Cublas.gemm(device, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c);
    }
}
