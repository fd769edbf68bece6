package dev.lowbit.runtime;

import java.util.ArrayList;
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

    /** The SIMD levels this CPU can run: scalar, and the best one when it is better. */
    public static List<SimdLevel> simdLevels() {
        List<SimdLevel> levels = new ArrayList<>(List.of(SimdLevel.SCALAR));
        if (Native.maxSimdLevel() != SimdLevel.SCALAR) levels.add(Native.maxSimdLevel());
        return levels;
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
