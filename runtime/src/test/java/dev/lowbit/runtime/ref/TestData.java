package dev.lowbit.runtime.ref;

import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/** Seeded inputs for the kernel tests, and a way to run a check under every SIMD level. */
public final class TestData {
    private TestData() {}

    public static float[] gaussian(Random rnd, int count, float std) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float) rnd.nextGaussian() * std;
        return v;
    }

    /** Gaussian weights with a few large outliers, as trained LLM weights have. */
    public static float[] weights(Random rnd, int count) {
        float[] v = gaussian(rnd, count, 0.02f);
        for (int i = 0; i < count / 50 + 1; i++) v[rnd.nextInt(count)] *= 20f;
        return v;
    }

    /** Every SIMD level this CPU can run, scalar first. */
    public static List<SimdLevel> simdLevels() {
        return List.of(SimdLevel.values()).subList(0, Native.maxSimdLevel().ordinal() + 1);
    }

    /** Runs body under the given SIMD level, restoring the best level afterwards. */
    public static void withSimd(SimdLevel level, Runnable body) {
        Native.setSimdLevel(level);
        try {
            body.run();
        } finally {
            Native.setSimdLevel(Native.maxSimdLevel());
        }
    }

    public static void forEachSimd(Consumer<SimdLevel> body) {
        for (SimdLevel level : simdLevels()) withSimd(level, () -> body.accept(level));
    }
}
