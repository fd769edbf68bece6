package dev.lowbit.bench;

import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.QuantSpec;
import dev.lowbit.runtime.QuantizedActivations;
import dev.lowbit.runtime.QuantizedTensor;
import dev.lowbit.runtime.Tensor;
import java.lang.foreign.Arena;
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
 * lowbit's fused dequant-GEMM against dense fp32 OpenBLAS (sgemv at m = 1, sgemm above) on the
 * same shape, in the same JVM. Weight bytes per call: codes + scales + zeros for lowbit, n * k * 4
 * for BLAS; divide by the time for GB/s.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DequantGemmBench {
    @Param({"4096x4096", "8192x16384"})
    public String shape;

    @Param({"1", "8", "64"})
    public int m;

    @Param({"4"})
    public int bits;

    @Param({"128"})
    public int group;

    private Arena arena;
    private Tensor x;
    private Tensor dense;
    private QuantizedTensor quantized;
    private Tensor y;
    private QuantizedActivations activations;

    @Setup(Level.Trial)
    public void setup() {
        int n = Shapes.n(shape), k = Shapes.k(shape);
        arena = Arena.ofShared();
        dense = Tensor.allocate(arena, DType.F32, n, k);
        SplittableRandom rnd = new SplittableRandom(42);
        for (long i = 0; i < (long) n * k; i++) dense.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() - 0.5) * 0.04f);
        quantized = Kernels.quantize(arena, dense, QuantSpec.of(bits, group));
        x = Tensor.allocate(arena, DType.F32, m, k);
        for (long i = 0; i < (long) m * k; i++) x.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble());
        y = Tensor.allocate(arena, DType.F32, m, n);
        activations = new QuantizedActivations(Tensor.allocate(arena, DType.U8, m, k), Tensor.allocate(arena, DType.F32, m),
                Tensor.allocate(arena, DType.F32, m), 8);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor lowbitDequantGemm() {
        Kernels.dequantGemm(x, quantized, null, y);
        return y;
    }

    /** The W4A8 path: per-token int8 quantization of x, then the integer GEMM (both timed). */
    @Benchmark
    public Tensor lowbitW4A8() {
        Kernels.quantizeActivations(x, activations);
        Kernels.intGemm(activations, quantized, null, y);
        return y;
    }

    /** Dense fp32 baseline: y = x . W^T through OpenBLAS (sgemv when m = 1). */
    @Benchmark
    public Tensor openblasDense() {
        Kernels.matmul(x, dense.transpose(), y, 1f, 0f);
        return y;
    }
}
