package dev.lowbit.bench;

import dev.lowbit.bindings.lowbit.lowbit_h;
import dev.lowbit.runtime.kernels.cpu.Native;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/** The cost of a bare downcall (lb_nop): the generated binding, and a critical handle. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class FfmCallBench {
    static {
        Native.ensureLoaded();
    }

    private static final MethodHandle CRITICAL_NOP = Linker.nativeLinker()
            .downcallHandle(lowbit_h.lb_nop$address(), lowbit_h.lb_nop$descriptor(), Linker.Option.critical(false));

    private int value = 17;

    @Benchmark
    public int plainDowncall() {
        return lowbit_h.lb_nop(value);
    }

    @Benchmark
    public int criticalDowncall() throws Throwable {
        return (int) CRITICAL_NOP.invokeExact(value);
    }
}
