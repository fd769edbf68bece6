package dev.lowbit.runtime.kernels;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The native operations of one device kind, called by the facades ({@link Kernels}, {@link NnKernels}) after
 * they have validated every argument. Each method is the lowbit.h function of that name (lb_cpu_* on the host,
 * lb_cuda_* on a GPU, queued on the thread's stream there), with the same arguments less the stream; see
 * lowbit.h for the contract. A failing status becomes a {@link LowbitException} carrying the native message.
 * Adding an op: declare it in lowbit.h, here, in both backends, and call it from a facade.
 */
interface Backend {
    /** The backend of device: liblowbit for the host, liblowbit_cuda for a GPU (made current on this thread). */
    static Backend of(Device device) {
        return device.kind() == Device.Kind.CPU ? CpuBackend.INSTANCE : CudaBackend.on(device);
    }

    // weight and activation quantization, the quantized GEMMs, QLLM's channel reassembly
    /** Round-to-nearest group quantization into out; operation names the call in errors. */
    void quantizeWeights(MemorySegment w, long ldw, MemorySegment out, int symmetric, int range, String operation);

    void quantizeWeightsWithParams(MemorySegment w, long ldw, MemorySegment q);

    void dequantizeWeights(MemorySegment q, MemorySegment w, long ldw);

    void dequantGemm(MemorySegment x, int xDtype, long m, MemorySegment w, MemorySegment bias, MemorySegment y);

    void fakeQuantGroups(MemorySegment x, long m, long k, long group, int bits, MemorySegment out);

    void quantizeActivations(
            MemorySegment x, long m, long k, int bits, MemorySegment codes, MemorySegment scales, MemorySegment zeros);

    void channelReassemble(
            MemorySegment x,
            long m,
            long kIn,
            MemorySegment ia,
            MemorySegment ib,
            MemorySegment sa,
            MemorySegment sb,
            long kOut,
            MemorySegment out);

    void channelReassembleBackward(
            MemorySegment dout,
            long m,
            long kOut,
            MemorySegment ia,
            MemorySegment ib,
            MemorySegment sa,
            MemorySegment sb,
            long kIn,
            MemorySegment dx);

    void weightCodeSums(MemorySegment w, MemorySegment sums);

    void intGemm(
            MemorySegment aCodes,
            MemorySegment aScales,
            MemorySegment aZeros,
            long m,
            MemorySegment w,
            MemorySegment wSums,
            MemorySegment bias,
            MemorySegment y);

    // trainable fake quantization (DL-QAT)
    void fakeQuantForward(
            MemorySegment w,
            long n,
            long k,
            int bits,
            int groupSize,
            MemorySegment scales,
            MemorySegment zeros,
            MemorySegment magnitude,
            MemorySegment out);

    void fakeQuantBackward(
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
            MemorySegment gradMagnitude);

    // model ops and their gradients (fp32, row-major)
    void rmsnorm(MemorySegment x, MemorySegment w, long m, long d, float eps, MemorySegment y, MemorySegment invRms);

    void rope(MemorySegment x, long m, long heads, long headDim, long pos0, long period, float theta);

    void attention(
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            long m,
            long pos0,
            long heads,
            long kvHeads,
            long headDim,
            MemorySegment out);

    void siluGate(MemorySegment gate, MemorySegment up, long n, MemorySegment out);

    void addInto(MemorySegment x, long n, MemorySegment acc);

    void logSoftmax(MemorySegment x, long m, long n, MemorySegment out);

    void crossEntropy(MemorySegment logits, MemorySegment targets, long m, long vocab, MemorySegment losses);

    void rmsnormBackward(
            MemorySegment x,
            MemorySegment w,
            MemorySegment invRms,
            MemorySegment dy,
            long m,
            long d,
            MemorySegment dx,
            MemorySegment dw);

    void ropeBackward(MemorySegment dx, long m, long heads, long headDim, long pos0, long period, float theta);

    void attentionTrain(
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            long b,
            long t,
            long heads,
            long kvHeads,
            long headDim,
            MemorySegment out,
            MemorySegment probs);

    void attentionBackward(
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
            MemorySegment dv);

    void siluGateBackward(
            MemorySegment gate, MemorySegment up, MemorySegment dout, long n, MemorySegment dgate, MemorySegment dup);

    void crossEntropyBackward(
            MemorySegment logits, MemorySegment targets, long m, long vocab, float scale, MemorySegment dlogits);

    // dense GEMM (CBLAS, cuBLAS)
    /** The dtypes {@link #gemm}'s a and b may have (both the same). */
    DType[] gemmTypes();

    /**
     * Row-major c [m, n] = alpha * op(a) op(b) + beta * c, op(x) = x or its transpose, fp32 c; lda, ldb
     * are the row strides of a's and b's stored (contiguous) matrices.
     */
    void gemm(
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
            Tensor c);
}
