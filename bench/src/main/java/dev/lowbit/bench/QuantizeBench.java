package dev.lowbit.bench;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
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

/** Group quantization of fp32 weights; input bytes n * k * 4 per call, divide by the time for GB/s. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class QuantizeBench {
    @Param({"8192x16384"})
    public String shape;

    @Param({"4"})
    public int bits;

    @Param({"128"})
    public int group;

    @Param({"MINMAX"})
    public QuantSpec.Range range;

    private Arena arena;
    private Tensor weights;
    private QuantSpec spec;
    private QuantizedTensor out;

    @Setup(Level.Trial)
    public void setup() {
        int n = Shapes.n(shape), k = Shapes.k(shape);
        arena = Arena.ofShared();
        weights = Tensor.allocate(arena, DType.F32, n, k);
        SplittableRandom rnd = new SplittableRandom(7);
        for (long i = 0; i < (long) n * k; i++)
            weights.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() - 0.5));
        spec = new QuantSpec(bits, group, false, range, DType.F32);
        out = QuantizedTensor.allocate(arena, n, k, spec);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** Into preallocated storage: the kernel, not the page faults of fresh output memory. */
    @Benchmark
    public QuantizedTensor groupQuantize() {
        Kernels.quantizeInto(weights, spec, out);
        return out;
    }
}
