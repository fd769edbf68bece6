package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The transformer's element-wise and attention kernels against the double-precision reference. */
class NnKernelsTest {
    private static final Random RND = new Random(11);

    private static double[] row(float[] a, int r, int width) {
        double[] out = new double[width];
        for (int j = 0; j < width; j++) out[j] = a[r * width + j];
        return out;
    }

    private static void assertRow(double[] expected, float[] actual, int r, double tol, String what) {
        for (int j = 0; j < expected.length; j++)
            assertEquals(
                    expected[j],
                    actual[r * expected.length + j],
                    tol * Math.max(1, Math.abs(expected[j])),
                    what + " [" + r + ", " + j + "]");
    }

    @Test
    void rmsNormMatchesReference() {
        int m = 5, d = 37;
        float[] x = TestData.gaussian(RND, m * d, 3f), w = TestData.gaussian(RND, d, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor y = Tensor.allocate(arena, DType.F32, m, d), inv = Tensor.allocate(arena, DType.F32, m);
            NnKernels.rmsNorm(Tensor.of(arena, x, m, d), Tensor.of(arena, w, d), 1e-5f, y, inv);
            float[] out = y.toFloatArray();
            for (int r = 0; r < m; r++) {
                assertRow(LlamaRef.rmsNorm(row(x, r, d), w, 1e-5), out, r, 1e-5, "rmsnorm");
                double ss = Arrays.stream(row(x, r, d)).map(v -> v * v).sum();
                assertEquals(1 / Math.sqrt(ss / d + 1e-5), inv.getFloat(r), 1e-5 / Math.sqrt(ss / d));
            }
        }
    }

    @Test
    void ropeRotatesPairsByPosition() {
        int m = 4, heads = 3, hd = 8;
        float[] x = TestData.gaussian(RND, m * heads * hd, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.of(arena, x, m, heads * hd);
            NnKernels.rope(t, heads, 7, 2, 10000f); // positions 7, 8, 7, 8
            float[] out = t.toFloatArray();
            for (int r = 0; r < m; r++) {
                double[] expected = row(x, r, heads * hd);
                LlamaRef.rope(expected, hd, 7 + r % 2, 10000);
                assertRow(expected, out, r, 1e-5, "rope");
            }
        }
    }

    @Test
    void attentionMatchesReferenceWithGroupedHeads() {
        int pos0 = 3, m = 4, heads = 4, kvHeads = 2, hd = 6, len = pos0 + m;
        float[] q = TestData.gaussian(RND, m * heads * hd, 1f);
        float[] k = TestData.gaussian(RND, 10 * kvHeads * hd, 1f), v = TestData.gaussian(RND, 10 * kvHeads * hd, 1f);
        double[][] keys = new double[len][], values = new double[len][];
        for (int t = 0; t < len; t++) {
            keys[t] = row(k, t, kvHeads * hd);
            values[t] = row(v, t, kvHeads * hd);
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = Tensor.allocate(arena, DType.F32, m, heads * hd);
            NnKernels.attention(
                    Tensor.of(arena, q, m, heads * hd),
                    Tensor.of(arena, k, 10, kvHeads * hd),
                    Tensor.of(arena, v, 10, kvHeads * hd),
                    pos0,
                    heads,
                    kvHeads,
                    out);
            float[] o = out.toFloatArray();
            for (int r = 0; r < m; r++)
                assertRow(
                        LlamaRef.attention(row(q, r, heads * hd), keys, values, pos0 + r, heads, kvHeads),
                        o,
                        r,
                        1e-5,
                        "attention");
        }
    }

    @Test
    void siluGateLogSoftmaxAndCrossEntropyMatchReference() {
        int m = 3, n = 50;
        float[] a = TestData.gaussian(RND, m * n, 4f), b = TestData.gaussian(RND, m * n, 1f);
        int[] targets = {0, 49, 17};
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = Tensor.allocate(arena, DType.F32, m, n);
            NnKernels.siluGate(Tensor.of(arena, a, m, n), Tensor.of(arena, b, m, n), out);
            float[] g = out.toFloatArray();
            for (int i = 0; i < m * n; i++)
                assertEquals(LlamaRef.silu(a[i]) * b[i], g[i], 1e-5 * Math.max(1, Math.abs(g[i])));

            NnKernels.logSoftmax(Tensor.of(arena, a, m, n), out);
            float[] ls = out.toFloatArray();
            Tensor t = Tensor.allocate(arena, DType.I32, m), losses = Tensor.allocate(arena, DType.F32, m);
            for (int r = 0; r < m; r++) t.segment().setAtIndex(ValueLayout.JAVA_INT, r, targets[r]);
            NnKernels.crossEntropy(Tensor.of(arena, a, m, n), t, losses);
            for (int r = 0; r < m; r++) {
                double[] ref = LlamaRef.logSoftmax(row(a, r, n));
                assertRow(ref, ls, r, 1e-5, "log-softmax");
                assertEquals(-ref[targets[r]], losses.getFloat(r), 1e-5);
            }
            t.segment().setAtIndex(ValueLayout.JAVA_INT, 1, 50);
            LowbitException e = assertThrows(
                    LowbitException.class, () -> NnKernels.crossEntropy(Tensor.of(arena, a, m, n), t, losses));
            assertTrue(e.getMessage().contains("target 50 of row 1 is outside [0, 50)"), e.getMessage());
        }
    }

    @Test
    void addIntoAddsElementwiseAndRefusesOtherShapes() {
        try (Arena arena = Arena.ofConfined()) {
            float[] a = TestData.gaussian(new Random(2), 70_000, 1f),
                    b = TestData.gaussian(new Random(3), 70_000, 1f); // above the parallel threshold
            Tensor acc = Tensor.of(arena, a, 700, 100);
            NnKernels.addInto(Tensor.of(arena, b, 700, 100), acc);
            float[] got = acc.toFloatArray();
            for (int i = 0; i < a.length; i++) assertEquals(a[i] + b[i], got[i], 0f, "element " + i);
            LowbitException e = assertThrows(
                    LowbitException.class, () -> NnKernels.addInto(Tensor.allocate(arena, DType.F32, 100, 700), acc));
            assertTrue(e.getMessage().contains("x has shape [100, 700], expected [700, 100]"), e.getMessage());
        }
    }

    @Test
    void shortKeyValueCacheIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, DType.F32, 2, 8), kv = Tensor.allocate(arena, DType.F32, 3, 8);
            LowbitException e = assertThrows(
                    LowbitException.class,
                    () -> NnKernels.attention(q, kv, kv, 2, 2, 2, Tensor.allocate(arena, DType.F32, 2, 8)));
            assertTrue(e.getMessage().contains("must be [>= 4, 8]"), e.getMessage());
        }
    }
}
