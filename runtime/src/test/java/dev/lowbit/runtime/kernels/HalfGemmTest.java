package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** fp32 x half-precision (F16 / BF16) weights against a double-precision reference on the widened values. */
class HalfGemmTest {
    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        int[][] shapes = {{1, 1}, {5, 7}, {17, 16}, {9, 33}, {6, 300}, {21, 1024}};
        for (SimdLevel level : TestData.simdLevels())
            for (DType t : new DType[] {DType.F16, DType.BF16})
                for (int[] s : shapes)
                    for (int m : new int[] {1, 3, 15, 16, 40}) out.add(Arguments.of(level, t, s[0], s[1], m));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} n={2} k={3} m={4}")
    @MethodSource("cases")
    void matchesReference(SimdLevel level, DType type, int n, int k, int m) {
        Random rnd = new Random(31L * n + 7L * k + m + type.ordinal());
        float[] w = TestData.gaussian(rnd, n * k, 0.5f);
        float[] x = TestData.gaussian(rnd, m * k, 1f);
        float[] y0 = TestData.gaussian(rnd, m * n, 1f);
        TestData.withSimd(level, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor wt = Tensor.of(arena, w, n, k).convertedTo(arena, type);
                float[] wr = wt.toFloatArray(); // the values the kernel widens to
                Tensor xt = Tensor.of(arena, x, m, k);
                for (boolean accumulate : new boolean[] {false, true}) {
                    Tensor y = Tensor.of(arena, y0, m, n);
                    Kernels.matmul(xt, wt.transpose(), y, 1f, accumulate ? 1f : 0f);
                    float[] got = y.toFloatArray();
                    for (int i = 0; i < m; i++)
                        for (int r = 0; r < n; r++) {
                            double ref = accumulate ? y0[i * n + r] : 0, abs = Math.abs(ref);
                            for (int j = 0; j < k; j++) {
                                ref += (double) x[i * k + j] * wr[r * k + j];
                                abs += Math.abs((double) x[i * k + j] * wr[r * k + j]);
                            }
                            double err = Math.abs(got[i * n + r] - ref), tol = 2e-5 * abs + 1e-30;
                            assertTrue(
                                    err <= tol,
                                    "y[" + i + ", " + r + "] = " + got[i * n + r] + ", reference " + ref + " (error "
                                            + err + " > " + tol + ", accumulate " + accumulate + ")");
                        }
                }
            }
        });
    }

    @Test
    void widensExactly() {
        Random rnd = new Random(5);
        for (SimdLevel level : TestData.simdLevels())
            TestData.withSimd(level, () -> {
                try (Arena arena = Arena.ofConfined()) {
                    for (DType type : new DType[] {DType.F16, DType.BF16}) {
                        float[] v = TestData.gaussian(rnd, 3 * 37, 100f);
                        v[0] = 1e-6f; // fp16 subnormal
                        v[1] = 7e4f; // beyond fp16: infinity
                        Tensor half = Tensor.of(arena, v, 3, 37).convertedTo(arena, type);
                        Tensor wide = Kernels.widened(arena, half);
                        assertEquals(DType.F32, wide.dtype());
                        float[] expected = half.toFloatArray(), got = wide.toFloatArray();
                        for (int i = 0; i < expected.length; i++)
                            assertEquals(
                                    Float.floatToRawIntBits(expected[i]),
                                    Float.floatToRawIntBits(got[i]),
                                    type + " " + level + " element " + i);
                    }
                }
            });
    }

    @Test
    void refusesWhatItCannotRun() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.allocate(arena, DType.BF16, 4, 8), x = Tensor.allocate(arena, DType.F32, 2, 8);
            Tensor y = Tensor.allocate(arena, DType.F32, 2, 4);
            assertThrows(LowbitException.class, () -> Kernels.matmul(x, w.transpose(), y, 2f, 0f));
            assertThrows(LowbitException.class, () -> Kernels.matmul(x, w.transpose(), y, 1f, 0.5f));
            Tensor wrongK = Tensor.allocate(arena, DType.BF16, 4, 9);
            assertThrows(LowbitException.class, () -> Kernels.matmul(x, wrongK.transpose(), y, 1f, 0f));
            Tensor wrongY = Tensor.allocate(arena, DType.F32, 2, 5);
            assertThrows(LowbitException.class, () -> Kernels.matmul(x, w.transpose(), wrongY, 1f, 0f));
            assertThrows(LowbitException.class, () -> Kernels.widen(w, Tensor.allocate(arena, DType.F32, 4, 7)));
        }
    }
}
