package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.kernels.cuda.CudaStream;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every CUDA kernel against the CPU kernel on the same inputs (JUnit tag gpu; skipped with the reason
 * where no GPU can be used). Tolerances: quantization, dequantization, activation codes and fake
 * quantization are bit-identical (lowbit.h promises it); sums are compared with the double-precision
 * product of the same (dequantized) operands, relative to the sum of absolute products: 1e-5 for fp32
 * accumulation on CUDA cores, 2e-3 for tensor cores with TF32 or fp16 inputs (10-bit mantissas), 1e-2
 * for bf16 (7 bits). The model ops are compared relative to the
 * largest magnitude of the CPU's result: 1e-6 element-wise (CUDA's expf, sin, cos are within 2 ulp),
 * 1e-5 where rows are summed in another order (attention, RMSNorm's dx).
 */
@Tag("gpu")
class CudaKernelsTest {
    static final Device GPU = Device.cuda(0);

    @BeforeEach // per test, so that each one is reported as skipped with the reason
    void needsGpu() {
        Assumptions.assumeTrue(Cuda.available(), () -> "no usable GPU here: " + Cuda.unavailableReason());
    }

    @ParameterizedTest(name = "{0}-bit g{2} [{1}] {3} {4}")
    @CsvSource({
        "2,96x256,32,MINMAX,F32",
        "3,64x512,64,MSE,F32",
        "4,130x1024,128,MINMAX,F16",
        "4,33x4096,4096,MSE,F32",
        "6,40x768,256,MINMAX,F32",
        "8,17x1000,1000,MINMAX,F16",
        "4,64x256,32,MSE,F16"
    })
    void quantizeDequantizeAndGemmMatchTheCpu(
            int bits, String shape, int group, QuantSpec.Range range, DType scaleType) {
        int n = Integer.parseInt(shape.split("x")[0]), k = Integer.parseInt(shape.split("x")[1]);
        QuantSpec spec = new QuantSpec(bits, group == k ? QuantSpec.PER_CHANNEL : group, false, range, scaleType);
        Random rnd = new Random(bits * 31L + k);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.of(arena, TestData.weights(rnd, n * k), n, k);
            QuantizedTensor cpu = Kernels.quantize(arena, w, spec);
            QuantizedTensor gpu = Kernels.quantize(arena, w.to(arena, GPU), spec);
            QuantizedTensor back = gpu.to(arena, Device.CPU);
            assertArrayEquals(bytes(cpu.codes()), bytes(back.codes()), "codes");
            assertArrayEquals(cpu.scales().toFloatArray(), back.scales().toFloatArray(), "scales");
            assertArrayEquals(cpu.zeros().toFloatArray(), back.zeros().toFloatArray(), "zeros");
            assertArrayEquals(
                    Kernels.dequantize(arena, cpu).toFloatArray(),
                    host(arena, Kernels.dequantize(arena, gpu)),
                    "dequantized");

            Tensor redone = Kernels.quantizeWithParams(
                            arena, w.to(arena, GPU), gpu.scales(), gpu.zeros(), bits, spec.groupSizeFor(k))
                    .codes();
            assertArrayEquals(bytes(cpu.codes()), bytes(redone.to(arena, Device.CPU)), "codes under given scales");

            Tensor bias = Tensor.of(arena, TestData.gaussian(rnd, n, 0.5f), n);
            for (int m : new int[] {1, 5, 16, 17, 130})
                for (DType xType : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                    Tensor x = Tensor.of(arena, TestData.gaussian(rnd, m * k, 1f), m, k)
                            .convertedTo(arena, xType);
                    float[] got = host(arena, Kernels.dequantGemm(arena, x.to(arena, GPU), gpu, bias.to(arena, GPU)));
                    double tol = m <= 16 ? 1e-5 : xType == DType.BF16 ? 1e-2 : 2e-3;
                    Products p = products(
                            x.toFloatArray(),
                            Kernels.dequantize(arena, cpu).toFloatArray(),
                            bias.toFloatArray(),
                            m,
                            n,
                            k);
                    assertClose(p.exact(), got, p.absolute(), tol, xType + " x, m = " + m);
                }
        }
    }

    @ParameterizedTest(name = "m = {0}, group {1}")
    @CsvSource({"11,128", "130,128", "70,512"}) // m = 11: dp4a; above 16: int8 tensor cores (70: per-channel groups)
    void activationQuantizationAndIntegerGemmMatchTheCpu(int m, int group) {
        Random rnd = new Random(7);
        int n = 70, k = 512;
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, TestData.gaussian(rnd, m * k, 2f), m, k);
            Tensor w = Tensor.of(arena, TestData.weights(rnd, n * k), n, k);
            for (int bits : new int[] {4, 8}) {
                QuantizedActivations cpu = Kernels.quantizeActivations(arena, x, bits);
                QuantizedActivations gpu = Kernels.quantizeActivations(arena, x.to(arena, GPU), bits);
                assertArrayEquals(
                        bytes(cpu.codes()), bytes(gpu.codes().to(arena, Device.CPU)), bits + "-bit activation codes");
                assertArrayEquals(cpu.scales().toFloatArray(), host(arena, gpu.scales()), "activation scales");
                assertArrayEquals(cpu.zeros().toFloatArray(), host(arena, gpu.zeros()), "activation zeros");
                int g = group == k ? QuantSpec.PER_CHANNEL : group;
                QuantizedTensor qw =
                        Kernels.quantize(arena, w, new QuantSpec(bits, g, false, QuantSpec.Range.MINMAX, DType.F32));
                QuantizedTensor qwGpu = qw.to(arena, GPU);
                Tensor sums = Kernels.weightCodeSums(arena, qwGpu);
                assertArrayEquals(
                        bytes(Kernels.weightCodeSums(arena, qw)), bytes(sums.to(arena, Device.CPU)), "code sums");
                // the GPU scales its exact integer sums (per word or per group) in fp32: compared with the
                // double-precision
                // product of the dequantized codes, not with the CPU's (its AVX2 group step leaves fp32 residues of its
                // per-lane sums, e.g. 3.5e-6 where every product is 0)
                Products p = products(
                        dequantizeActivations(cpu, m, k),
                        Kernels.dequantize(arena, qw).toFloatArray(),
                        null,
                        m,
                        n,
                        k);
                for (Tensor given : new Tensor[] {null, sums})
                    assertClose(
                            p.exact(),
                            host(arena, Kernels.intGemm(arena, gpu, qwGpu, given, null)),
                            p.absolute(),
                            1e-5,
                            "W" + bits + "A" + bits + " integer GEMM"
                                    + (given == null ? "" : " with the code sums given"));
            }
        }
    }

    @Test
    void fakeQuantizationMatchesTheCpu() {
        Random rnd = new Random(11);
        int n = 24, k = 256, g = 64;
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, TestData.gaussian(rnd, n * k, 1f), n, k);
            Tensor out = Tensor.allocate(arena, DType.F32, n, k), outGpu = Tensor.allocate(arena, GPU, DType.F32, n, k);
            Kernels.fakeQuantGroups(x, g, 3, out);
            Kernels.fakeQuantGroups(x.to(arena, GPU), g, 3, outGpu);
            assertArrayEquals(out.toFloatArray(), host(arena, outGpu), "fake-quantized groups");

            QuantizedTensor q =
                    Kernels.quantize(arena, x, new QuantSpec(4, g, false, QuantSpec.Range.MINMAX, DType.F32));
            Tensor mag = Tensor.of(arena, TestData.gaussian(rnd, n * k / g, 0.1f), n, k / g);
            FakeQuantParams p = new FakeQuantParams(q.scales(), q.zeros(), mag, 4, g);
            FakeQuantParams pg =
                    new FakeQuantParams(q.scales().to(arena, GPU), q.zeros().to(arena, GPU), mag.to(arena, GPU), 4, g);
            Tensor moved = Tensor.of(arena, TestData.gaussian(rnd, n * k, 1.3f), n, k); // some codes clip
            assertArrayEquals(
                    Kernels.fakeQuantForward(arena, moved, p).toFloatArray(),
                    host(arena, Kernels.fakeQuantForward(arena, moved.to(arena, GPU), pg)),
                    "fake-quant forward");
            Tensor grad = Tensor.of(arena, TestData.gaussian(rnd, n * k, 1f), n, k);
            FakeQuantGrads want = Kernels.fakeQuantBackward(arena, moved, p, grad);
            FakeQuantGrads got = Kernels.fakeQuantBackward(arena, moved.to(arena, GPU), pg, grad.to(arena, GPU));
            assertArrayEquals(want.weights().toFloatArray(), host(arena, got.weights()), "weight gradient");
            assertClose(
                    want.scales().toFloatArray(), host(arena, got.scales()), ones(n * k / g), 1e-5, "scale gradient");
            assertClose(
                    want.magnitude().toFloatArray(),
                    host(arena, got.magnitude()),
                    ones(n * k / g),
                    1e-5,
                    "magnitude gradient");
        }
    }

    @Test
    void modelOpsMatchTheCpu() {
        Random rnd = new Random(23);
        int b = 2,
                t = 9,
                heads = 6,
                kvHeads = 2,
                hd = 48,
                width = heads * hd,
                kvWidth = kvHeads * hd,
                m = b * t,
                vocab = 1000;
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, TestData.gaussian(rnd, m * width, 2f), m, width);
            Tensor nw = Tensor.of(arena, TestData.gaussian(rnd, width, 1f), width);
            Tensor y = Tensor.allocate(arena, DType.F32, m, width), inv = Tensor.allocate(arena, DType.F32, m);
            Tensor yg = gpuLike(arena, y), invg = gpuLike(arena, inv);
            NnKernels.rmsNorm(x, nw, 1e-5f, y, inv);
            NnKernels.rmsNorm(gpu(arena, x), gpu(arena, nw), 1e-5f, yg, invg);
            near(inv, invg, 1e-6, "RMSNorm 1/rms");
            near(y, yg, 1e-6, "RMSNorm");

            Tensor dy = Tensor.of(arena, TestData.gaussian(rnd, m * width, 1f), m, width);
            Tensor dx = Tensor.allocate(arena, DType.F32, m, width), dxg = gpuLike(arena, dx);
            Tensor dw = Tensor.of(arena, TestData.gaussian(rnd, width, 1f), width),
                    dwg = gpu(arena, dw); // accumulated into
            NnKernels.rmsNormBackward(x, nw, inv, dy, dx, dw);
            NnKernels.rmsNormBackward(gpu(arena, x), gpu(arena, nw), gpu(arena, inv), gpu(arena, dy), dxg, dwg);
            near(dx, dxg, 1e-5, "RMSNorm dx");
            assertArrayEquals(dw.toFloatArray(), host(arena, dwg), "RMSNorm dw (the CPU's order of additions)");

            Tensor r = Tensor.of(arena, x.toFloatArray(), m, width), rg = gpu(arena, r);
            NnKernels.rope(r, heads, 3, t, 10000f);
            NnKernels.rope(rg, heads, 3, t, 10000f);
            near(r, rg, 1e-6, "RoPE");
            NnKernels.ropeBackward(r, heads, 3, t, 10000f);
            NnKernels.ropeBackward(rg, heads, 3, t, 10000f);
            near(r, rg, 1e-6, "RoPE backward");

            Tensor q = Tensor.of(arena, TestData.gaussian(rnd, m * width, 1f), m, width);
            Tensor k = Tensor.of(arena, TestData.gaussian(rnd, m * kvWidth, 1f), m, kvWidth);
            Tensor v = Tensor.of(arena, TestData.gaussian(rnd, m * kvWidth, 1f), m, kvWidth);
            Tensor qg = gpu(arena, q), kg = gpu(arena, k), vg = gpu(arena, v);
            Tensor out = Tensor.allocate(arena, DType.F32, 5, width),
                    outg = gpuLike(arena, out); // 5 rows at positions 13..17
            Tensor q5 = Tensor.of(arena, Arrays.copyOf(q.toFloatArray(), 5 * width), 5, width);
            NnKernels.attention(q5, k, v, 13, heads, kvHeads, out);
            NnKernels.attention(gpu(arena, q5), kg, vg, 13, heads, kvHeads, outg);
            near(out, outg, 1e-5, "attention over a cache");

            Tensor att = Tensor.allocate(arena, DType.F32, m, width),
                    probs = Tensor.allocate(arena, DType.F32, b, heads, t, t);
            Tensor attg = gpuLike(arena, att), probsg = gpuLike(arena, probs);
            NnKernels.attentionTrain(q, k, v, b, t, heads, kvHeads, att, probs);
            NnKernels.attentionTrain(qg, kg, vg, b, t, heads, kvHeads, attg, probsg);
            near(att, attg, 1e-5, "attention (training)");
            near(probs, probsg, 1e-5, "attention weights");
            Tensor dout = Tensor.of(arena, TestData.gaussian(rnd, m * width, 1f), m, width);
            Tensor dq = Tensor.allocate(arena, DType.F32, m, width), dk = Tensor.allocate(arena, DType.F32, m, kvWidth);
            Tensor dv = Tensor.allocate(arena, DType.F32, m, kvWidth);
            Tensor dqg = gpuLike(arena, dq), dkg = gpuLike(arena, dk), dvg = gpuLike(arena, dv);
            NnKernels.attentionBackward(q, k, v, probs, dout, b, t, heads, kvHeads, dq, dk, dv);
            NnKernels.attentionBackward(qg, kg, vg, probsg, gpu(arena, dout), b, t, heads, kvHeads, dqg, dkg, dvg);
            near(dq, dqg, 1e-5, "attention dq");
            near(dk, dkg, 1e-5, "attention dk");
            near(dv, dvg, 1e-5, "attention dv");

            Tensor up = Tensor.of(arena, TestData.gaussian(rnd, m * width, 1f), m, width);
            Tensor s = Tensor.allocate(arena, DType.F32, m, width), sg = gpuLike(arena, s);
            NnKernels.siluGate(x, up, s);
            NnKernels.siluGate(gpu(arena, x), gpu(arena, up), sg);
            near(s, sg, 1e-6, "SiLU gate");
            Tensor dgate = Tensor.allocate(arena, DType.F32, m, width),
                    dup = Tensor.allocate(arena, DType.F32, m, width);
            Tensor dgateg = gpuLike(arena, dgate), dupg = gpuLike(arena, dup);
            NnKernels.siluGateBackward(x, up, dout, dgate, dup);
            NnKernels.siluGateBackward(gpu(arena, x), gpu(arena, up), gpu(arena, dout), dgateg, dupg);
            near(dgate, dgateg, 1e-6, "SiLU gate dgate");
            near(dup, dupg, 1e-6, "SiLU gate dup");

            Tensor logits = Tensor.of(arena, TestData.gaussian(rnd, m * vocab, 3f), m, vocab),
                    logitsg = gpu(arena, logits);
            int[] ids = new int[m];
            for (int i = 0; i < m; i++) ids[i] = rnd.nextInt(vocab);
            Tensor targets = Tensor.allocate(arena, DType.I32, m);
            targets.segment().copyFrom(MemorySegment.ofArray(ids));
            Tensor targetsg = gpu(arena, targets);
            Tensor ls = Tensor.allocate(arena, DType.F32, m, vocab), lsg = gpuLike(arena, ls);
            NnKernels.logSoftmax(logits, ls);
            NnKernels.logSoftmax(logitsg, lsg);
            near(ls, lsg, 1e-6, "log-softmax");
            Tensor loss = Tensor.allocate(arena, DType.F32, m), lossg = gpuLike(arena, loss);
            NnKernels.crossEntropy(logits, targets, loss);
            NnKernels.crossEntropy(logitsg, targetsg, lossg);
            near(loss, lossg, 1e-6, "cross-entropy");
            Tensor dl = Tensor.allocate(arena, DType.F32, m, vocab), dlg = gpuLike(arena, dl);
            NnKernels.crossEntropyBackward(logits, targets, 0.25f, dl);
            NnKernels.crossEntropyBackward(logitsg, targetsg, 0.25f, dlg);
            near(dl, dlg, 1e-6, "cross-entropy backward");

            ids[3] = vocab; // out of range: an error naming the row, not a read past the logits
            targets.segment().copyFrom(MemorySegment.ofArray(ids));
            LowbitException bad = assertThrows(
                    LowbitException.class, () -> NnKernels.crossEntropy(logitsg, gpu(arena, targets), lossg));
            assertTrue(bad.getMessage().contains("target 1000 of row 3 is outside [0, 1000)"), bad.getMessage());
        }
    }

    @Test
    void channelReassemblyMatchesTheCpu() {
        Random rnd = new Random(29);
        int m = 7, kIn = 300;
        int[] ia = new int[kIn + 40], ib = new int[kIn + 40];
        float[] sa = new float[ia.length], sb = new float[ia.length];
        for (int j = 0;
                j < ia.length;
                j++) { // every channel once, then 40 more reading random ones (repeats: scattered adds collide)
            ia[j] = j < kIn ? j : rnd.nextInt(kIn);
            ib[j] = rnd.nextInt(kIn);
            sa[j] = 0.5f + rnd.nextFloat();
            sb[j] = j % 3 == 0 ? 0f : rnd.nextFloat();
        }
        try (Arena arena = Arena.ofConfined()) {
            ChannelMap map = ChannelMap.of(arena, ia, ib, sa, sb, kIn), mapg = map.to(arena, GPU);
            Tensor x = Tensor.of(arena, TestData.gaussian(rnd, m * kIn, 1f), m, kIn);
            Tensor out = Tensor.allocate(arena, DType.F32, m, ia.length), outg = gpuLike(arena, out);
            Kernels.channelReassemble(x, map, out);
            Kernels.channelReassemble(gpu(arena, x), mapg, outg);
            assertArrayEquals(out.toFloatArray(), host(arena, outg), "reassembled activations");
            Tensor dx = Tensor.allocate(arena, DType.F32, m, kIn), dxg = gpuLike(arena, dx);
            Kernels.channelReassembleBackward(out, map, dx);
            Kernels.channelReassembleBackward(outg, mapg, dxg);
            near(dx, dxg, 1e-6, "reassembly gradient");

            ia[5] = kIn; // a map the record's constructor accepts unchecked: refused on the GPU, not read out of bounds
            Tensor badIa = Tensor.allocate(arena, DType.I32, ia.length);
            badIa.segment().copyFrom(MemorySegment.ofArray(ia));
            ChannelMap bad = new ChannelMap(gpu(arena, badIa), mapg.ib(), mapg.sa(), mapg.sb(), kIn);
            LowbitException e =
                    assertThrows(LowbitException.class, () -> Kernels.channelReassemble(gpu(arena, x), bad, outg));
            assertTrue(e.getMessage().contains("output channel 5 reads channels 300 and"), e.getMessage());
        }
    }

    @Test
    void cublasGemmMatchesCblas() {
        Random rnd = new Random(3);
        int m = 37, k = 300, n = 53;
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.of(arena, TestData.gaussian(rnd, m * k, 1f), m, k);
            Tensor bt = Tensor.of(arena, TestData.gaussian(rnd, n * k, 1f), n, k); // used as b = bt^T
            float[] want = Kernels.matmul(arena, a, bt.transpose()).toFloatArray();
            for (DType type : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                Tensor ag = a.convertedTo(arena, type).to(arena, GPU),
                        bg = bt.convertedTo(arena, type).to(arena, GPU);
                float[] got = host(arena, Kernels.matmul(arena, ag, bg.transpose()));
                double[] scale = new double[want.length];
                Arrays.fill(scale, Math.sqrt(k)); // |a| and |b| ~ 1: the sum of |products| ~ k, its spread ~ sqrt(k)
                assertClose(
                        want, got, scale, type == DType.F32 ? 1e-5 : type == DType.F16 ? 2e-3 : 1e-2, "cuBLAS " + type);
            }
        }
    }

    @Test
    void workOnAStreamGivesTheDefaultStreamsResults() {
        Random rnd = new Random(31);
        int m = 20, n = 96, k = 256;
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = Kernels.quantize(
                    arena, Tensor.of(arena, TestData.weights(rnd, n * k), n, k).to(arena, GPU), QuantSpec.of(4, 128));
            Tensor x = gpu(arena, Tensor.of(arena, TestData.gaussian(rnd, m * k, 1f), m, k));
            Tensor nw = gpu(arena, Tensor.of(arena, TestData.gaussian(rnd, n, 1f), n));
            Tensor y = Kernels.dequantGemm(arena, x, q, null), normed = gpuLike(arena, y);
            NnKernels.rmsNorm(y, nw, 1e-5f, normed, null);
            float[] want = host(arena, normed);

            Tensor pinned = Tensor.allocatePinned(arena, DType.F32, m, n),
                    ys = gpuLike(arena, y),
                    normedOnStream = gpuLike(arena, y);
            try (CudaStream stream = CudaStream.create(GPU)) {
                try (CudaStream.Scope s = stream.use()) {
                    Kernels.dequantGemm(x, q, null, ys);
                    NnKernels.rmsNorm(ys, nw, 1e-5f, normedOnStream, null);
                    pinned.copyFrom(normedOnStream);
                }
                stream.synchronize();
                assertArrayEquals(
                        want, pinned.toFloatArray(), "dequant-GEMM and RMSNorm on a stream, copied to pinned memory");
                Tensor back = gpuLike(arena, y);
                try (CudaStream.Scope s = stream.use()) {
                    back.copyFrom(pinned);
                }
                stream.synchronize();
                assertArrayEquals(want, host(arena, back), "pinned host to GPU");
            }
            CudaStream closed = CudaStream.create(GPU);
            closed.close();
            LowbitException e = assertThrows(LowbitException.class, closed::use);
            assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        }
    }

    @Test
    void devicesDoNotMixAndDeviceMemoryIsNotReadAsHost() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.of(arena, TestData.weights(new Random(1), 64 * 128), 64, 128);
            QuantizedTensor q = Kernels.quantize(arena, w.to(arena, GPU), QuantSpec.of(4, 64));
            LowbitException mixed = assertThrows(
                    LowbitException.class,
                    () -> Kernels.dequantGemm(arena, Tensor.allocate(arena, DType.F32, 1, 128), q, null));
            assertTrue(mixed.getMessage().contains("x is on cpu but this call runs on cuda:0"), mixed.getMessage());
            LowbitException read =
                    assertThrows(LowbitException.class, () -> q.codes().toFloatArray());
            assertTrue(read.getMessage().contains("copy it with to(arena, Device.CPU)"), read.getMessage());
        }
    }

    private static Tensor gpu(Arena arena, Tensor t) {
        return t.to(arena, GPU);
    }

    private static Tensor gpuLike(Arena arena, Tensor t) {
        return Tensor.allocate(arena, GPU, t.dtype(), t.shape());
    }

    /** Every element of the GPU's result within tol of the CPU's, relative to the CPU result's largest magnitude. */
    private static void near(Tensor cpu, Tensor gpu, double tol, String what) {
        float[] want = cpu.toFloatArray(),
                got = gpu.to(Arena.ofAuto(), Device.CPU).toFloatArray();
        double scale = 1e-6;
        for (float w : want) scale = Math.max(scale, Math.abs(w));
        double[] scales = new double[want.length];
        Arrays.fill(scales, scale);
        assertClose(want, got, scales, tol, what);
    }

    private static float[] host(Arena arena, Tensor t) {
        return t.to(arena, Device.CPU).toFloatArray();
    }

    private static byte[] bytes(Tensor t) {
        return t.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    private static double[] ones(int n) {
        double[] v = new double[n];
        Arrays.fill(v, 1.0);
        return v;
    }

    /** Per output, the sum of x_j w_j (+ bias) in double, and the sum of |x_j w_j|: the scale of fp32 summation error. */
    private record Products(float[] exact, double[] absolute) {}

    private static Products products(float[] x, float[] w, float[] bias, int m, int n, int k) {
        float[] exact = new float[m * n];
        double[] absolute = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int r = 0; r < n; r++) {
                double s = bias == null ? 0 : bias[r], a = 1e-6;
                for (int j = 0; j < k; j++) {
                    double p = (double) x[i * k + j] * w[r * k + j];
                    s += p;
                    a += Math.abs(p);
                }
                exact[i * n + r] = (float) s;
                absolute[i * n + r] = a;
            }
        return new Products(exact, absolute);
    }

    /** (code - zero) * scale of per-token quantized activations [m, k]. */
    private static float[] dequantizeActivations(QuantizedActivations a, int m, int k) {
        byte[] codes = bytes(a.codes());
        float[] s = a.scales().toFloatArray(), z = a.zeros().toFloatArray(), out = new float[m * k];
        for (int i = 0; i < m * k; i++) out[i] = ((codes[i] & 0xFF) - z[i / k]) * s[i / k];
        return out;
    }

    private static void assertClose(float[] want, float[] got, double[] scale, double tol, String what) {
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs((double) want[i] - got[i]) / scale[i];
            assertTrue(
                    err <= tol,
                    what + ": element " + i + " is " + got[i] + ", CPU " + want[i] + " (error " + err + " > " + tol
                            + ")");
        }
    }
}
