package dev.lowbit.runtime.kernels;

import dev.lowbit.bindings.lowbit.lowbit_h;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cuda.CudaStream;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The kernel facade: every operation validates its arguments on the Java side, then calls
 * liblowbit (or CBLAS) for host tensors and liblowbit_cuda (or cuBLAS) for CUDA tensors, and turns
 * a failing status into a {@link LowbitException} carrying the native message. All tensors of a
 * call must be on one device. Methods taking an {@link Arena} allocate their results in it, on the
 * inputs' device; the others write into tensors the caller provides (no allocation on the hot path).
 * CUDA calls are queued on the thread's {@link CudaStream} in use, else the device's default stream;
 * {@link Tensor#to} to the host waits for them.
 */
public final class Kernels {
    static {
        Native.ensureLoaded(); // the bindings resolve symbols in libraries already loaded
    }

    private Kernels() {}

    /** Round-to-nearest group quantization of w [n, k]. */
    public static QuantizedTensor quantize(Arena arena, Tensor w, QuantSpec spec) {
        Check.weights(w);
        QuantizedTensor q = QuantizedTensor.allocate(arena, w.device(), w.dim(0), w.dim(1), spec);
        quantizeInto(w, spec, q);
        return q;
    }

    /** As {@link #quantize}, into storage allocated for the same shape, bits, group and scale type. */
    public static void quantizeInto(Tensor w, QuantSpec spec, QuantizedTensor out) {
        Device d = Check.weights(w);
        Check.quantized(d, out, "output");
        if (out.rows() != w.dim(0)
                || out.cols() != w.dim(1)
                || out.bits() != spec.bits()
                || out.groupSize() != spec.groupSizeFor(w.dim(1))
                || out.scales().dtype() != spec.scaleType())
            throw new LowbitException("output " + out + " does not match weights " + w + " quantized as " + spec);
        int symmetric = spec.symmetric() ? 1 : 0;
        int range = spec.range() == QuantSpec.Range.MSE ? lowbit_h.LB_RANGE_MSE() : lowbit_h.LB_RANGE_MINMAX();
        Backend.of(d).quantizeWeights(w.segment(), w.dim(1), out.descriptor(), symmetric, range, "quantize " + spec);
    }

    /** Codes of w [n, k] under given scales and zeros ([n, k / group], F32 or F16), e.g. trained ones. */
    public static QuantizedTensor quantizeWithParams(
            Arena arena, Tensor w, Tensor scales, Tensor zeros, int bits, int groupSize) {
        Device d = Check.weights(w);
        Check.on(d, scales, "scales", DType.F32, DType.F16);
        Check.on(d, zeros, "zeros", DType.F32, DType.F16);
        long n = w.dim(0), k = w.dim(1);
        Tensor codes = Tensor.allocate(arena, d, DType.I32, n, QuantizedTensor.wordsPerRow(k, bits));
        QuantizedTensor q = QuantizedTensor.of(arena, codes, scales, zeros, k, bits, groupSize);
        Backend.of(d).quantizeWeightsWithParams(w.segment(), k, q.descriptor());
        return q;
    }

    /** W [n, k] = scale * (q - zero). */
    public static Tensor dequantize(Arena arena, QuantizedTensor q) {
        Device d = Check.quantized(q, "weights");
        Tensor w = Tensor.allocate(arena, d, DType.F32, q.rows(), q.cols());
        Backend.of(d).dequantizeWeights(q.descriptor(), w.segment(), q.cols());
        return w;
    }

    /** y [m, n] = x [m, k] . W^T + bias, with W dequantized on the fly. */
    public static Tensor dequantGemm(Arena arena, Tensor x, QuantizedTensor w, Tensor bias) {
        Device d = Check.quantized(w, "weights");
        long m = Check.rowsOf(Check.on(d, x, "x", DType.F32, DType.F16, DType.BF16), w.cols(), "x");
        Tensor y = Tensor.allocate(arena, d, DType.F32, m, w.rows());
        dequantGemm(x, w, bias, y);
        return y;
    }

    /** As {@link #dequantGemm(Arena, Tensor, QuantizedTensor, Tensor)}, into y [m, n]; bias may be null. */
    public static void dequantGemm(Tensor x, QuantizedTensor w, Tensor bias, Tensor y) {
        Device d = Check.quantized(w, "weights");
        long m = Check.rowsOf(Check.on(d, x, "x", DType.F32, DType.F16, DType.BF16), w.cols(), "x");
        checkOutput(d, y, bias, m, w.rows());
        Backend.of(d).dequantGemm(x.segment(), x.dtype().nativeCode(), m, w.descriptor(), optional(bias), y.segment());
    }

    /**
     * Per-token dynamic asymmetric quantization of x [m, k] to 4 or 8 bits. On a GPU a row holding NaN or
     * Inf gets a NaN scale (its results become NaN) instead of an exception, so this hot path never waits.
     */
    public static QuantizedActivations quantizeActivations(Arena arena, Tensor x, int bits) {
        Device d = Check.device(x, "x", DType.F32);
        checkActivationBits(bits);
        long k = x.dim(-1), m = Check.rowsOf(x, k, "x");
        QuantizedActivations a = new QuantizedActivations(
                Tensor.allocate(arena, d, DType.U8, m, k),
                Tensor.allocate(arena, d, DType.F32, m),
                Tensor.allocate(arena, d, DType.F32, m),
                bits);
        quantizeActivations(x, a);
        return a;
    }

    /** As {@link #quantizeActivations(Arena, Tensor, int)}, into out (its bits and shapes). */
    public static void quantizeActivations(Tensor x, QuantizedActivations out) {
        Device d = Check.device(x, "x", DType.F32);
        checkActivationBits(out.bits());
        long k = x.dim(-1), m = Check.rowsOf(x, k, "x");
        checkActivations(d, out, m, k);
        Backend.of(d)
                .quantizeActivations(
                        x.segment(),
                        m,
                        k,
                        out.bits(),
                        out.codes().segment(),
                        out.scales().segment(),
                        out.zeros().segment());
    }

    private static void checkActivationBits(int bits) {
        if (bits != 4 && bits != 8) throw new LowbitException(bits + "-bit activations are not supported: use 4 or 8");
    }

    private static void checkActivations(Device d, QuantizedActivations a, long m, long k) {
        Check.shape(Check.on(d, a.codes(), "activation codes", DType.U8), "activation codes", m, k);
        Check.shape(Check.on(d, a.scales(), "activation scales", DType.F32), "activation scales", m);
        Check.shape(Check.on(d, a.zeros(), "activation zeros", DType.F32), "activation zeros", m);
    }

    /** QLLM's channel reassembly of activations x [m, map.inChannels()] into out [m, map.outChannels()]; the map on x's device. */
    public static void channelReassemble(Tensor x, ChannelMap map, Tensor out) {
        Device d = checkMap(x, map, "x");
        long m = Check.rowsOf(x, map.inChannels(), "x");
        Check.shape(Check.on(d, out, "out", DType.F32), "out", m, map.outChannels());
        Backend.of(d)
                .channelReassemble(
                        x.segment(),
                        m,
                        map.inChannels(),
                        map.ia().segment(),
                        map.ib().segment(),
                        map.sa().segment(),
                        map.sb().segment(),
                        map.outChannels(),
                        out.segment());
    }

    /** The gradient of {@link #channelReassemble}: dx [m, map.inChannels()] (overwritten) from dout [m, map.outChannels()]. */
    public static void channelReassembleBackward(Tensor dout, ChannelMap map, Tensor dx) {
        Device d = checkMap(dout, map, "dout");
        long m = Check.rowsOf(dout, map.outChannels(), "dout");
        Check.shape(Check.on(d, dx, "dx", DType.F32), "dx", m, map.inChannels());
        Backend.of(d)
                .channelReassembleBackward(
                        dout.segment(),
                        m,
                        map.outChannels(),
                        map.ia().segment(),
                        map.ib().segment(),
                        map.sa().segment(),
                        map.sb().segment(),
                        map.inChannels(),
                        dx.segment());
    }

    /** The device of x (F32), with the map's four parts checked to be there. */
    private static Device checkMap(Tensor x, ChannelMap map, String name) {
        Device d = Check.device(x, name, DType.F32);
        if (map == null) throw new LowbitException("the channel map is null");
        Check.on(d, map.ia(), "channel map ia", DType.I32);
        Check.on(d, map.ib(), "channel map ib", DType.I32);
        Check.on(d, map.sa(), "channel map sa", DType.F32);
        Check.on(d, map.sb(), "channel map sb", DType.F32);
        return d;
    }

    /**
     * Fake quantization of x [..., k] into out (same shape; may be x): per row and group of group
     * columns (group = k: per row) asymmetric min-max at 2..8 bits, quantized and dequantized, the same
     * values dequantizing {@link #quantize} (min-max, fp32 scales) or {@link #quantizeActivations} gives.
     */
    public static void fakeQuantGroups(Tensor x, int group, int bits, Tensor out) {
        Device d = Check.device(x, "x", DType.F32);
        if (bits < 2 || bits > 8)
            throw new LowbitException(bits + "-bit fake quantization is not supported: use 2 to 8");
        long k = x.dim(-1), m = Check.rowsOf(x, k, "x");
        if (group <= 0 || k % group != 0)
            throw new LowbitException("group " + group + " does not divide the " + k + " columns");
        Check.on(d, out, "out", DType.F32);
        if (out.numel() != x.numel()) throw new LowbitException("out has " + out.numel() + " values, x " + x.numel());
        Backend.of(d).fakeQuantGroups(x.segment(), m, k, group, bits, out.segment());
    }

    /**
     * Per row and group, the sum of w's codes (I32 [n, k / groupSize]): the integer GEMM's zero-point
     * term. Compute once per weight matrix and pass to every {@link #intGemm} with it.
     */
    public static Tensor weightCodeSums(Arena arena, QuantizedTensor w) {
        Device d = Check.quantized(w, "weights");
        Tensor sums = Tensor.allocate(arena, d, DType.I32, w.rows(), w.cols() / w.groupSize());
        Backend.of(d).weightCodeSums(w.descriptor(), sums.segment());
        return sums;
    }

    /** y [m, n] from quantized activations and 4- or 8-bit weights, with integer dot products. */
    public static Tensor intGemm(Arena arena, QuantizedActivations a, QuantizedTensor w, Tensor codeSums, Tensor bias) {
        if (a == null) throw new LowbitException("activations are null");
        Tensor y = Tensor.allocate(arena, Check.quantized(w, "weights"), DType.F32, a.rows(), w.rows());
        intGemm(a, w, codeSums, bias, y);
        return y;
    }

    /**
     * y = dequant(a) . dequant(w)^T + bias with integer dot products. codeSums: {@link
     * #weightCodeSums} of w, or null to have the kernel sum the codes on every call (an extra pass over
     * the weights; the GPU's one-pass kernel for m <= 16 does not use them).
     */
    public static void intGemm(QuantizedActivations a, QuantizedTensor w, Tensor codeSums, Tensor bias, Tensor y) {
        Device d = Check.quantized(w, "weights");
        if (w.bits() != 4 && w.bits() != 8)
            throw new LowbitException(
                    "the integer GEMM takes 4- or 8-bit weights, got " + w.bits() + "-bit; use dequantGemm");
        if (a == null) throw new LowbitException("activations are null");
        long m = Check.rowsOf(Check.on(d, a.codes(), "activation codes", DType.U8), w.cols(), "activation codes");
        checkActivations(d, a, m, w.cols());
        if (codeSums != null)
            Check.shape(
                    Check.on(d, codeSums, "weight code sums", DType.I32),
                    "weight code sums",
                    w.rows(),
                    w.cols() / w.groupSize());
        checkOutput(d, y, bias, m, w.rows());
        Backend.of(d)
                .intGemm(
                        a.codes().segment(),
                        a.scales().segment(),
                        a.zeros().segment(),
                        m,
                        w.descriptor(),
                        optional(codeSums),
                        optional(bias),
                        y.segment());
    }

    /** Fake-quantized weights magnitude * scale * (clamp(rint(w / s) + z) - z); magnitude may be null. */
    public static Tensor fakeQuantForward(Arena arena, Tensor w, FakeQuantParams p) {
        Device d = p.check(w);
        Tensor out = Tensor.allocate(arena, d, DType.F32, w.shape());
        Backend.of(d)
                .fakeQuantForward(
                        w.segment(),
                        w.dim(0),
                        w.dim(1),
                        p.bits(),
                        p.groupSize(),
                        p.scales().segment(),
                        p.zeros().segment(),
                        optional(p.magnitude()),
                        out.segment());
        return out;
    }

    /** Straight-through gradients of {@link #fakeQuantForward} for w, the scales and the magnitudes. */
    public static FakeQuantGrads fakeQuantBackward(Arena arena, Tensor w, FakeQuantParams p, Tensor gradOut) {
        Device d = p.check(w);
        Check.shape(Check.on(d, gradOut, "gradient", DType.F32), "gradient", w.shape());
        FakeQuantGrads g = new FakeQuantGrads(
                Tensor.allocate(arena, d, DType.F32, w.shape()),
                Tensor.allocate(arena, d, DType.F32, p.scales().shape()),
                Tensor.allocate(arena, d, DType.F32, p.scales().shape()));
        Backend.of(d)
                .fakeQuantBackward(
                        w.segment(),
                        w.dim(0),
                        w.dim(1),
                        p.bits(),
                        p.groupSize(),
                        p.scales().segment(),
                        p.zeros().segment(),
                        optional(p.magnitude()),
                        gradOut.segment(),
                        g.weights().segment(),
                        g.scales().segment(),
                        g.magnitude().segment());
        return g;
    }

    /** c [m, n] = a [m, k] . b [k, n], fp32 out: CBLAS on the host, cuBLAS on a GPU; b may be a {@link Tensor#transpose()} view. */
    public static Tensor matmul(Arena arena, Tensor a, Tensor b) {
        if (a == null) throw new LowbitException("a is null");
        Tensor c = Tensor.allocate(arena, a.device(), DType.F32, a.dim(0), b.dim(-1));
        matmul(a, b, c, 1f, 0f);
        return c;
    }

    /**
     * c = alpha * a . b + beta * c; a and b may be transposed views of contiguous matrices. On the host
     * fp32 (CBLAS), or a fp32 and b the transpose of F16 / BF16 weights [n, k] kept as stored (alpha 1,
     * beta 0 or 1: liblowbit's half-weight kernels); on a GPU a and b are F32, F16 or BF16 (both the
     * same), accumulated in fp32 (cuBLAS).
     */
    public static void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        if (a == null || b == null || a.rank() != 2 || b.rank() != 2)
            throw new LowbitException("matmul takes 2-D matrices, got " + a + " and " + b);
        Device d = a.device();
        if (HalfGemm.isHalf(b.dtype()) && a.dtype() == DType.F32 && d.kind() == Device.Kind.CPU) {
            if (!b.transpose().isContiguous() || alpha != 1f || (beta != 0f && beta != 1f))
                throw new LowbitException("fp32 x half-precision weights multiply x [m, k] by the transpose of"
                        + " weights [n, k], with alpha 1 and beta 0 or 1");
            HalfGemm.matmul(a, b.transpose(), c, beta == 1f);
            return;
        }
        Backend backend = Backend.of(d);
        boolean transA = !a.isContiguous(), transB = !b.isContiguous();
        DType[] types = backend.gemmTypes();
        Tensor aStore = Check.on(d, transA ? a.transpose() : a, "a", types);
        Tensor bStore = Check.on(d, transB ? b.transpose() : b, "b", types);
        if (a.dtype() != b.dtype()) throw new LowbitException("matmul: a is " + a.dtype() + " but b is " + b.dtype());
        long m = a.dim(0), k = a.dim(1), n = b.dim(1);
        if (b.dim(0) != k)
            throw new LowbitException("matmul: a is [" + m + ", " + k + "] but b is [" + b.dim(0) + ", " + n + "]");
        Check.shape(Check.on(d, c, "c", DType.F32), "c", m, n);
        backend.gemm(transA, transB, m, n, k, alpha, aStore, transA ? m : k, bStore, transB ? k : n, beta, c);
    }

    /** dst (F32, host) = src (F16 or BF16, host, same shape) widened exactly to fp32. */
    public static void widen(Tensor src, Tensor dst) {
        HalfGemm.widen(src, dst);
    }

    /** src as a new contiguous fp32 tensor in arena on src's device (a copy also when src is fp32 already). */
    public static Tensor widened(Arena arena, Tensor src) {
        if (src == null) throw new LowbitException("source is null");
        if (src.dtype() == DType.F32) return src.to(arena, src.device());
        Tensor host = src.onHost(arena), out = Tensor.allocate(arena, DType.F32, src.shape());
        widen(host, out);
        return src.device().kind() == Device.Kind.CPU ? out : out.to(arena, src.device());
    }

    private static void checkOutput(Device d, Tensor y, Tensor bias, long m, long n) {
        Check.on(d, y, "y", DType.F32);
        if (y.numel() != m * n || y.dim(-1) != n)
            throw new LowbitException(
                    "y has shape " + Arrays.toString(y.shape()) + ", expected [" + m + ", " + n + "]");
        if (bias != null) Check.shape(Check.on(d, bias, "bias", DType.F32), "bias", n);
    }

    static MemorySegment optional(Tensor t) {
        return t == null ? MemorySegment.NULL : t.segment();
    }
}
