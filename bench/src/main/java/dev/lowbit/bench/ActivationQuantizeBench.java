package dev.lowbit.bench;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.Tensor;
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
 * Per-token int8 quantization of activations [m, k] (k from the layer shape N x K), as the W4A8
 * path runs it before every integer GEMM; m * k * 4 input bytes per call.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ActivationQuantizeBench {
    @Param({"8192x16384"})
    public String shape;

    @Param({"1", "64", "256"})
    public int m;

    private Arena arena;
    private Tensor x;
    private QuantizedActivations out;

    @Setup(Level.Trial)
    public void setup() {
        int k = Shapes.k(shape);
        arena = Arena.ofShared();
        x = Tensor.allocate(arena, DType.F32, m, k);
        SplittableRandom rnd = new SplittableRandom(8);
        for (long i = 0; i < (long) m * k; i++)
            x.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
        out = new QuantizedActivations(
                Tensor.allocate(arena, DType.U8, m, k),
                Tensor.allocate(arena, DType.F32, m),
                Tensor.allocate(arena, DType.F32, m),
                8);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public QuantizedActivations activationQuantize() {
        Kernels.quantizeActivations(x, out);
        return out;
    }
}
