package dev.lowbit.methods.quant.qllm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/** Channel disassembly and assembly against plain-Java products, the fused kernel, and the threshold search. */
class ChannelReassemblyTest {
    static final int C = 24, ROWS = 5, TOKENS = 12;

    /** Activations with outliers in channels 3 and 10 (up to 40) and channels 0 and 1 equal on every token. */
    static float[][] tokens(Random rnd) {
        float[][] x = new float[TOKENS][C];
        for (float[] row : x) {
            for (int c = 0; c < C; c++) row[c] = (float) rnd.nextGaussian();
            row[1] = row[0];
            row[3] *= 40;
            row[10] *= 15;
        }
        return x;
    }

    static float[] weights(Random rnd) {
        float[] w = new float[ROWS * C];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        return w;
    }

    static float[] maxAbs(float[][] x) {
        float[] m = new float[C];
        for (float[] row : x) for (int c = 0; c < C; c++) m[c] = Math.max(m[c], Math.abs(row[c]));
        return m;
    }

    static double[] product(float[] x, float[] w, int k) {
        double[] y = new double[ROWS];
        for (int o = 0; o < ROWS; o++) for (int j = 0; j < k; j++) y[o] += (double) x[j] * w[o * k + j];
        return y;
    }

    static float[] columnSums(float[] w) {
        float[] s = new float[C];
        for (int o = 0; o < ROWS; o++) for (int c = 0; c < C; c++) s[c] += w[o * C + c];
        return s;
    }

    /**
     * Disassembly is exact; each merged pair (a, b) changes the output by exactly
     * (x_a + x_b)/2 (W_a + W_b) - x_a W_a - x_b W_b = (x_b - x_a)(W_a - W_b) / 2, which the test
     * predicts; the pair of equal channels (0, 1) is merged first, at no cost.
     */
    @Test
    void disassemblyIsExactAndAssemblyChangesTheOutputByThePredictedAmount() {
        Random rnd = new Random(3);
        float[][] x = tokens(rnd);
        float[] w = weights(rnd);
        float[] m = maxAbs(x);
        ChannelReassembly.Plan p = ChannelReassembly.plan(ChannelReassembly.SiteStats.of(x, columnSums(w)), 6f);
        assertTrue(p.split() >= 6, "the outliers split: " + p.split() + " channels added");
        assertEquals(C, p.outChannels(), "assembly merges as many pairs as disassembly added");
        boolean mergedEqualPair = false;
        for (int j = 0; j < p.outChannels(); j++) mergedEqualPair |= p.ia()[j] == 0 && p.ib()[j] == 1;
        assertTrue(mergedEqualPair, "channels 0 and 1 are identical, so they are merged first");
        int splitOf3 = 0;
        for (int j = 0; j < p.outChannels(); j++) if (p.ia()[j] == 3) splitOf3++;
        assertEquals(ChannelReassembly.splits(m[3], 6f), splitOf3);

        float[] w2 = p.reassembleWeights(w, ROWS);
        for (float[] token : x) {
            double[] y = product(token, w, C), y2 = product(p.apply(token), w2, C);
            for (int o = 0; o < ROWS; o++) {
                double predicted = 0;
                for (int j = 0; j < p.outChannels(); j++) {
                    int a = p.ia()[j], b = p.ib()[j];
                    if (a != b) predicted += (token[b] - token[a]) * (w[o * C + a] - w[o * C + b]) / 2.0;
                }
                assertEquals(y[o] + predicted, y2[o], 1e-4 * (1 + Math.abs(y[o])), "output " + o);
            }
        }
        ChannelReassembly.Plan none = ChannelReassembly.plan(ChannelReassembly.SiteStats.of(x, columnSums(w)), 1000f);
        assertEquals(0, none.split());
        for (int j = 0; j < C; j++) assertEquals(j, none.ia()[j], "nothing to split, nothing merged");
    }

    @Test
    void fusedKernelMatchesThePlan() {
        Random rnd = new Random(4);
        float[][] x = tokens(rnd);
        float[] w = weights(rnd);
        ChannelReassembly.Plan p = ChannelReassembly.plan(ChannelReassembly.SiteStats.of(x, columnSums(w)), 4f);
        try (Arena arena = Arena.ofConfined()) {
            float[] flat = new float[TOKENS * C];
            for (int t = 0; t < TOKENS; t++) System.arraycopy(x[t], 0, flat, t * C, C);
            Tensor out = Tensor.allocate(arena, DType.F32, TOKENS, p.outChannels());
            Kernels.channelReassemble(Tensor.of(arena, flat, TOKENS, C), p.toMap(arena), out);
            float[] got = out.toFloatArray();
            for (int t = 0; t < TOKENS; t++)
                assertArrayEquals(
                        p.apply(x[t]),
                        Arrays.copyOfRange(got, t * p.outChannels(), (t + 1) * p.outChannels()),
                        "token " + t);

            // the backward kernel is the adjoint: <R x, d> = <x, R^T d> for every x and d
            float[] d = new float[TOKENS * p.outChannels()];
            for (int i = 0; i < d.length; i++) d[i] = (float) rnd.nextGaussian();
            Tensor dx = Tensor.allocate(arena, DType.F32, TOKENS, C);
            Kernels.channelReassembleBackward(Tensor.of(arena, d, TOKENS, p.outChannels()), p.toMap(arena), dx);
            float[] dxs = dx.toFloatArray();
            double lhs = 0, rhs = 0;
            for (int i = 0; i < d.length; i++) lhs += (double) got[i] * d[i];
            for (int i = 0; i < flat.length; i++) rhs += (double) flat[i] * dxs[i];
            assertEquals(lhs, rhs, 1e-4 * Math.abs(lhs) + 1e-4);

            assertThrows(
                    LowbitException.class,
                    () -> ChannelMap.of(
                            arena, new int[] {0, C}, new int[] {0, 0}, new float[] {1, 1}, new float[] {0, 0}, C),
                    "an index past the input channels");
            assertThrows(
                    LowbitException.class,
                    () -> Kernels.channelReassemble(Tensor.of(arena, flat, TOKENS * 2, C / 2), p.toMap(arena), out),
                    "activations of the wrong width");
        }
    }

    /** The grid starts at max|x|, stops before disassembly adds more than 0.2 C, and the search takes its argmin. */
    @Test
    void thresholdSearchTakesTheLowestErrorOfItsGrid() {
        Random rnd = new Random(5);
        float[][] x = tokens(rnd);
        float[] w = weights(rnd);
        float[] m = maxAbs(x), sums = columnSums(w);
        ChannelReassembly.SiteStats stats = ChannelReassembly.SiteStats.of(x, sums);
        assertArrayEquals(m, stats.maxAbs());
        float[] grid = ChannelReassembly.thresholdGrid(m);
        float max = 0;
        for (float v : m) max = Math.max(max, v);
        assertEquals(max, grid[0]);
        for (float theta : grid) assertTrue(ChannelReassembly.plan(stats, theta).split() <= 0.2 * C);
        assertTrue(grid.length > 3);

        // the error of 3-bit per-token activation quantization of the reassembled layer, in plain Java
        ToDoubleFunction<ChannelReassembly.Plan> error = p -> {
            float[] w2 = p.reassembleWeights(w, ROWS);
            double e = 0;
            for (float[] token : x) {
                float[] r = p.apply(token);
                float lo = 0, hi = 0;
                for (float v : r) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
                float s = (hi - lo) / 7, z = Math.round(-lo / s);
                float[] q = new float[r.length];
                for (int j = 0; j < r.length; j++) q[j] = s * (Math.min(7, Math.max(0, Math.round(r[j] / s) + z)) - z);
                double[] y = product(token, w, C), yq = product(q, w2, p.outChannels());
                for (int o = 0; o < ROWS; o++) e += (y[o] - yq[o]) * (y[o] - yq[o]);
            }
            return e;
        };
        double best = Double.POSITIVE_INFINITY;
        float bestTheta = Float.NaN;
        for (float theta : grid) {
            double e = error.applyAsDouble(ChannelReassembly.plan(stats, theta));
            if (e < best) {
                best = e;
                bestTheta = theta;
            }
        }
        ChannelReassembly.Plan chosen = ChannelReassembly.search(stats, error);
        assertEquals(bestTheta, chosen.theta());
        assertTrue(bestTheta < max, "splitting the outliers pays at 3 bits");
    }
}
