package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Whether a row's output of a linear depends on how many rows share the call (M), which decides
 * whether a batched request sees the logits it would see alone. The W4A8 / W8A8 integer kernel's
 * rows are exact integer dot products and the same for every M. fp32 (OpenBLAS: gemv at M = 1,
 * then gemm kernels by size) and the weight-only dequant-GEMM (a gemv, then blocked paths from M =
 * 16) sum in a different order for different M: their rows agree to within BOUND of the row's
 * largest magnitude, the bound {@link BatchedForwardTest} holds the batched forward to.
 */
class BatchRowsTest {
    /** Relative agreement of one row computed at different M (fp32 rounding over k = 2048 terms). */
    static final double BOUND = 1e-5;

    @Test
    void integerKernelRowsAreTheSameForEveryM() {
        try (Arena arena = Arena.ofConfined()) {
            for (int bits : new int[] {4, 8}) {
                Tensor w = random(arena, 1, 768, 256);
                Linear l = new Linear.ActQuantized(Kernels.quantize(arena, w, QuantSpec.of(bits, 128)), 8);
                float[][] rows = rowsAtEachM(arena, l, 256, 33);
                for (int m = 1; m < rows.length; m++)
                    assertArrayEquals(rows[0], rows[m], "W" + bits + "A8 at M = " + (m + 1));
            }
        }
    }

    @Test
    void fp32AndDequantRowsAgreeWithinTheBound() {
        try (Arena arena = Arena.ofConfined()) {
            for (int[] nk : new int[][] {{256, 256}, {2048, 2048}}) {
                Tensor w = random(arena, 2, nk[0], nk[1]);
                for (Linear l : new Linear[] {
                    new Linear.Dense(w), new Linear.Quantized(Kernels.quantize(arena, w, QuantSpec.of(4, 128)))
                }) {
                    float[][] rows = rowsAtEachM(arena, l, nk[1], 33);
                    double scale = 0;
                    for (float v : rows[0]) scale = Math.max(scale, Math.abs(v));
                    for (int m = 1; m < rows.length; m++)
                        for (int j = 0; j < rows[0].length; j++)
                            assertEquals(
                                    rows[0][j],
                                    rows[m][j],
                                    BOUND * scale,
                                    l.getClass().getSimpleName() + " at M = " + (m + 1));
                }
            }
        }
    }

    /** Row 0's output when the call has M = 1 .. maxM rows (the others random). */
    private static float[][] rowsAtEachM(Arena arena, Linear l, int k, int maxM) {
        float[] x = random(arena, 3, maxM, k).toFloatArray();
        float[][] out = new float[maxM][];
        for (int m = 1; m <= maxM; m++) {
            Tensor y = Tensor.allocate(arena, DType.F32, m, l.outFeatures());
            l.apply(arena, Tensor.of(arena, Arrays.copyOf(x, m * k), m, k), y, 0f);
            out[m - 1] = Arrays.copyOf(y.toFloatArray(), (int) l.outFeatures());
        }
        return out;
    }

    private static Tensor random(Arena arena, long seed, int rows, int cols) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return Tensor.of(arena, v, rows, cols);
    }
}
