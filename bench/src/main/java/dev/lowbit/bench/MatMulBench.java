package dev.lowbit.bench;

import dev.lowbit.bench.peers.Ggml;
import dev.lowbit.bench.peers.GgmlMatMul;
import dev.lowbit.bench.peers.JlamaMatMul;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * y [m, n] = x [m, k] . W^T on LLaMA layer shapes, every contender in the same JVM on the same
 * random weights (each quantized to its own format) and inputs: lowbit's fused dequant-GEMM and its
 * W4A8 integer path, dense fp32 OpenBLAS (sgemv at m = 1, sgemm above), ggml's mul_mat on Q4_0,
 * Q4_0 repacked as llama.cpp runs it (Q4_0x8), Q4_K and Q8_0 (llama.cpp's CPU kernels through FFM,
 * from the CPU variant ggml itself would pick) and Jlama's Q4 x I8 matmul. Before timing,
 * each contender's output is checked against the fp32 product of the unquantized weights. The read
 * floor ({@link ReadFloor}) times reading the W4 g128 weights' bytes and nothing else.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
        value = 1,
        jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class MatMulBench {
    static final int THREADS = Runtime.getRuntime().availableProcessors();

    /** The shape, the random weights and inputs, and the fp32 reference product. */
    @State(Scope.Benchmark)
    public static class Problem {
        @Param({"4096x4096", "11008x4096", "4096x11008", "8192x16384"})
        public String shape;

        @Param({"1", "8", "16", "64", "256"})
        public int m;

        Arena arena;
        int n, k;
        Tensor dense, x, y;
        float[] reference;

        @Setup(Level.Trial)
        public void setup() {
            n = Shapes.n(shape);
            k = Shapes.k(shape);
            arena = Arena.ofShared();
            dense = random(arena, 42, 0.04f, n, k);
            x = random(arena, 43, 2f, m, k);
            y = Tensor.allocate(arena, DType.F32, m, n);
            Kernels.matmul(x, dense.transpose(), y, 1f, 0f);
            reference = y.toFloatArray();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }

        /** Fails unless out is within relTol (RMS error over RMS of the reference) of the fp32 product. */
        void check(String contender, MemorySegment out, double relTol) {
            double err = 0, ref = 0;
            for (int i = 0; i < reference.length; i++) {
                double d = out.getAtIndex(ValueLayout.JAVA_FLOAT, i) - reference[i];
                err += d * d;
                ref += (double) reference[i] * reference[i];
            }
            double rel = Math.sqrt(err / ref);
            if (!(rel <= relTol))
                throw new IllegalStateException(contender + " on " + shape + " m=" + m + ": relative RMS error " + rel
                        + " > " + relTol + " against the fp32 product; its output is wrong, not timing it");
        }

        static Tensor random(Arena arena, long seed, float range, long rows, long cols) {
            Tensor t = Tensor.allocate(arena, DType.F32, rows, cols);
            SplittableRandom rnd = new SplittableRandom(seed);
            MemorySegment s = t.segment();
            for (long i = 0; i < rows * cols; i++)
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() - 0.5) * range);
            return t;
        }
    }

    /**
     * Tolerance of the output check by bits. It is there to catch a contender computing the wrong
     * product (a misread layout gives errors near 1 and above), not to grade formats: 4-bit formats
     * land between 0.06 and 0.17 on these uniform weights (Jlama's Q4 at the top).
     */
    static double tolerance(int bits) {
        return bits >= 8 ? 0.05 : bits == 4 ? 0.25 : 0.6;
    }

    @State(Scope.Benchmark)
    public static class LowbitWeights {
        @Param({"4"})
        public int bits;

        @Param({"128"})
        public int group;

        QuantizedTensor weights;
        Tensor codeSums;
        QuantizedActivations activations;

        @Setup(Level.Trial)
        public void setup(Problem p) {
            weights = Kernels.quantize(p.arena, p.dense, QuantSpec.of(bits, group));
            codeSums = Kernels.weightCodeSums(p.arena, weights); // once per weight matrix, as Linear.ActQuantized does
            activations = new QuantizedActivations(
                    Tensor.allocate(p.arena, DType.U8, p.m, p.k),
                    Tensor.allocate(p.arena, DType.F32, p.m),
                    Tensor.allocate(p.arena, DType.F32, p.m),
                    8);
            Kernels.dequantGemm(p.x, weights, null, p.y);
            p.check("lowbit dequant-GEMM", p.y.segment(), tolerance(bits));
            if (bits == 4 || bits == 8) {
                w4a8(p);
                p.check("lowbit W" + bits + "A8", p.y.segment(), tolerance(bits));
            }
        }

        void w4a8(Problem p) {
            Kernels.quantizeActivations(p.x, activations);
            Kernels.intGemm(activations, weights, codeSums, null, p.y);
        }
    }

    /** As many bytes as lowbit's W4 g128 weights of the shape hold, for the read floor. */
    @State(Scope.Benchmark)
    public static class FloorBytes {
        @Param({"4096x4096", "11008x4096", "4096x11008", "8192x16384"})
        public String shape;

        ReadFloor reader;

        @Setup(Level.Trial)
        public void setup() {
            reader = new ReadFloor(Contenders.lowbitWeightBytes(Shapes.n(shape), Shapes.k(shape), 4, 128));
            long expected = reader.bytes() / 8 * (reader.bytes() / 8 - 1) / 2; // the buffer holds 0, 1, 2, ... as longs
            if (reader.read() != expected)
                throw new IllegalStateException("the read floor summed its buffer wrongly; not timing it");
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            reader.close();
        }
    }

    @State(Scope.Benchmark)
    public static class GgmlWeights {
        @Param({"Q4_0", "Q4_0x8", "Q4_K", "Q8_0"})
        public Ggml.Type ggmlType;

        GgmlMatMul matmul;

        @Setup(Level.Trial)
        public void setup(Problem p) {
            matmul = new GgmlMatMul(ggmlType, p.dense.segment(), p.n, p.k, p.m, THREADS);
            MemorySegment.copy(p.x.segment(), 0, matmul.input(), 0, (long) p.m * p.k * 4);
            matmul.compute();
            p.check("ggml " + ggmlType, matmul.output(), tolerance(ggmlType == Ggml.Type.Q8_0 ? 8 : 4));
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            matmul.close();
        }
    }

    @State(Scope.Benchmark)
    public static class JlamaWeights {
        JlamaMatMul matmul;

        @Setup(Level.Trial)
        public void setup(Problem p) {
            matmul = new JlamaMatMul(p.dense.segment(), p.n, p.k, p.m);
            MemorySegment.copy(p.x.segment(), 0, matmul.input(), 0, (long) p.m * p.k * 4);
            matmul.compute();
            p.check("Jlama Q4 (" + matmul.operations() + ")", matmul.output(), tolerance(4));
        }
    }

    @Benchmark
    public Tensor lowbitDequantGemm(Problem p, LowbitWeights w) {
        Kernels.dequantGemm(p.x, w.weights, null, p.y);
        return p.y;
    }

    /** The W4A8 path: per-token int8 quantization of x, then the integer GEMM (both timed). */
    @Benchmark
    public Tensor lowbitW4A8(Problem p, LowbitWeights w) {
        w.w4a8(p);
        return p.y;
    }

    /** Dense fp32 baseline: y = x . W^T through OpenBLAS (sgemv when m = 1). */
    @Benchmark
    public Tensor openblasDense(Problem p) {
        Kernels.matmul(p.x, p.dense.transpose(), p.y, 1f, 0f);
        return p.y;
    }

    /** The read-bandwidth floor: the W4 g128 weight bytes of the shape read on the kernels' threads, no compute. */
    @Benchmark
    public long readFloor(FloorBytes f) {
        return f.reader.read();
    }

    @Benchmark
    public MemorySegment ggml(GgmlWeights g) {
        g.matmul.compute();
        return g.matmul.output();
    }

    @Benchmark
    public MemorySegment jlamaQ4(JlamaWeights j) {
        j.matmul.compute();
        return j.matmul.output();
    }
}
