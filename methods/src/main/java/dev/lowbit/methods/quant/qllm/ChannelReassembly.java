package dev.lowbit.methods.quant.qllm;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.ChannelMap;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * QLLM's adaptive channel reassembly at one linear input, following the official code.
 * Disassembly: an outlier channel c with max|x_c| > theta is split into T_c = max(1, ceil(max|x_c| /
 * theta)) sub-channels carrying x_c / T_c each, its weight column repeated T_c times (exact).
 * Assembly: as many pairs of channels as disassembly added are merged to keep the width: the pair
 * carries (x_a + x_b) / 2 against the weight column W_a + W_b (exact when x_a = x_b). Candidates
 * pair even-indexed with odd-indexed channels, never a split one, scored (dist(x_a, x_b) * (sum_o
 * W[o, a] + sum_o W[o, b]))^2 over the calibration tokens; the lowest-scoring pairs whose channels
 * are both still free are merged (a greedy bipartite matching).
 * theta is searched per layer over {@link #thresholdGrid}.
 */
public final class ChannelReassembly {
    private ChannelReassembly() {}

    /** Output channel j = sa[j] * x[ia[j]] + sb[j] * x[ib[j]]; a merged pair has ib != ia. */
    public record Plan(int[] ia, int[] ib, float[] sa, float[] sb, int inChannels, float theta, int split) {
        public int outChannels() {
            return ia.length;
        }

        public ChannelMap toMap(Arena arena) {
            return ChannelMap.of(arena, ia, ib, sa, sb, inChannels);
        }

        /** The reassembled activations of one token (the plain-Java form of the fused kernel). */
        public float[] apply(float[] x) {
            float[] out = new float[ia.length];
            for (int j = 0; j < ia.length; j++) out[j] = sa[j] * x[ia[j]] + sb[j] * x[ib[j]];
            return out;
        }

        /** W' [rows, outChannels] from W [rows, inChannels]: column ia for a split or kept channel, ia + ib for a merged pair. */
        public float[] reassembleWeights(float[] w, int rows) {
            if (w.length != rows * inChannels)
                throw new LowbitException("weights are not [" + rows + ", " + inChannels + "]");
            int k = ia.length;
            float[] out = new float[rows * k];
            for (int o = 0; o < rows; o++)
                for (int j = 0; j < k; j++)
                    out[o * k + j] = ia[j] == ib[j]
                            ? w[o * inChannels + ia[j]]
                            : w[o * inChannels + ia[j]] + w[o * inChannels + ib[j]];
            return out;
        }
    }

    /** T_c = max(1, ceil(max|x_c| / theta)). */
    public static int splits(float maxAbs, float theta) {
        return Math.max(1, (int) Math.ceil(maxAbs / theta));
    }

    /**
     * What the plans at one site need from calibration, computed once for every theta of the
     * search: max|x_c| per channel, and the candidate pairs (even channel a, odd channel b) sorted
     * by their score (dist(x_a, x_b) * (sum_o W[o, a] + sum_o W[o, b]))^2, lowest first.
     */
    public record SiteStats(float[] maxAbs, int[] pairA, int[] pairB) {
        /** From calibration activations tokens [n][C] and weightColumnSums[c] = sum_o W[o, c] over every linear reading the site. */
        public static SiteStats of(float[][] tokens, float[] weightColumnSums) {
            if (tokens.length == 0) throw new LowbitException("channel reassembly needs calibration tokens");
            int c = tokens[0].length, evens = (c + 1) / 2, odds = c / 2;
            if (weightColumnSums.length != c)
                throw new LowbitException(weightColumnSums.length + " weight column sums for " + c + " channels");
            float[] maxAbs = new float[c];
            double[] d = new double[evens * odds];
            for (float[] x : tokens) {
                if (x.length != c)
                    throw new LowbitException("calibration tokens of " + x.length + " and " + c + " channels");
                for (int i = 0; i < c; i++) maxAbs[i] = Math.max(maxAbs[i], Math.abs(x[i]));
                for (int a = 0; a < evens; a++)
                    for (int b = 0; b < odds; b++) {
                        double diff = x[2 * a] - x[2 * b + 1];
                        d[a * odds + b] += diff * diff;
                    }
            }
            Integer[] order = new Integer[d.length];
            double[] score = new double[d.length];
            for (int i = 0; i < d.length; i++) {
                order[i] = i;
                double s = Math.sqrt(d[i]) * (weightColumnSums[2 * (i / odds)] + weightColumnSums[2 * (i % odds) + 1]);
                score[i] = s * s;
            }
            Arrays.sort(order, Comparator.comparingDouble(i -> score[i]));
            int[] pa = new int[d.length], pb = new int[d.length];
            for (int i = 0; i < d.length; i++) {
                pa[i] = 2 * (order[i] / odds);
                pb[i] = 2 * (order[i] % odds) + 1;
            }
            return new SiteStats(maxAbs, pa, pb);
        }

        public int channels() {
            return maxAbs.length;
        }
    }

    /** The plan at theta. */
    public static Plan plan(SiteStats stats, float theta) {
        float[] maxAbs = stats.maxAbs();
        int c = maxAbs.length;
        if (!(theta > 0)) throw new LowbitException("the reassembly threshold must be positive, got " + theta);
        int[] t = new int[c];
        int added = 0;
        for (int i = 0; i < c; i++) {
            t[i] = splits(maxAbs[i], theta);
            added += t[i] - 1;
        }
        if (added == 0) return identity(c, theta);
        int[] partner = new int[c];
        Arrays.fill(partner, -1);
        int merged = 0;
        for (int i = 0; i < stats.pairA().length && merged < added; i++) {
            int a = stats.pairA()[i], b = stats.pairB()[i];
            if (t[a] > 1 || t[b] > 1 || partner[a] >= 0 || partner[b] >= 0) continue; // split channels are never merged
            partner[a] = b;
            partner[b] = a;
            merged++;
        }
        int k = c + added - merged;
        int[] ia = new int[k], ib = new int[k];
        float[] sa = new float[k], sb = new float[k];
        int j = 0;
        for (int i = 0; i < c; i++) {
            if (partner[i] >= 0 && partner[i] < i) continue; // the odd half of a merged pair
            if (partner[i] >= 0) {
                ia[j] = i;
                ib[j] = partner[i];
                sa[j] = sb[j] = 0.5f;
                j++;
            } else {
                for (int s = 0; s < t[i]; s++, j++) {
                    ia[j] = ib[j] = i;
                    sa[j] = 1f / t[i];
                }
            }
        }
        return new Plan(ia, ib, sa, sb, c, theta, added);
    }

    /**
     * The thetas the search tries: from max|x| downward in steps of (max - min) / max(100, max / 0.5)
     * over the channels' max|x|, while the channels disassembly adds stay within 0.2 C.
     */
    public static float[] thresholdGrid(float[] maxAbs) {
        float max = 0, min = Float.POSITIVE_INFINITY;
        for (float m : maxAbs) {
            max = Math.max(max, m);
            min = Math.min(min, m);
        }
        if (!(max > 0)) throw new LowbitException("all activations at this site are zero; nothing to reassemble");
        double step = (max - min) / Math.max(100, max / 0.5);
        List<Float> grid = new ArrayList<>();
        for (double theta = max; theta > 0 && step > 0; theta -= step) {
            long added = 0;
            for (float m : maxAbs) added += splits(m, (float) theta) - 1;
            if (added > 0.2 * maxAbs.length) break;
            grid.add((float) theta);
        }
        if (grid.isEmpty()) grid.add(max);
        float[] out = new float[grid.size()];
        for (int i = 0; i < out.length; i++) out[i] = grid.get(i);
        return out;
    }

    /** Every channel kept as it is. */
    public static Plan identity(int channels, float theta) {
        int[] ia = new int[channels];
        float[] sa = new float[channels];
        for (int i = 0; i < channels; i++) {
            ia[i] = i;
            sa[i] = 1f;
        }
        return new Plan(ia, ia.clone(), sa, new float[channels], channels, theta, 0);
    }

    /**
     * The plan over the grid with the lowest error (ties go to the larger theta, the smaller change);
     * neighbouring thetas that give the same plan are evaluated once.
     */
    public static Plan search(SiteStats stats, ToDoubleFunction<Plan> error) {
        Plan best = null, previous = null;
        double bestError = Double.POSITIVE_INFINITY;
        for (float theta : thresholdGrid(stats.maxAbs())) {
            Plan p = plan(stats, theta);
            if (previous != null
                    && Arrays.equals(p.ia(), previous.ia())
                    && Arrays.equals(p.ib(), previous.ib())
                    && Arrays.equals(p.sa(), previous.sa())) continue;
            previous = p;
            double e = error.applyAsDouble(p);
            if (e < bestError) {
                bestError = e;
                best = p;
            }
        }
        if (best == null) throw new LowbitException("no reassembly threshold gave a finite error");
        return best;
    }
}
