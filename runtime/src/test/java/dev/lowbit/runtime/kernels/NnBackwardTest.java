package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.runtime.ref.FiniteDifference;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Every backward kernel against central finite differences of its forward kernel: for a random
 * upstream gradient G, d/dx of sum(G * f(x)) at sampled elements of each input.
 */
class NnBackwardTest {
    private static final Random RND = new Random(17);
    private static final double H = 1e-3;

    /** Central difference of loss with respect to element i of t (restored afterwards). */
    private static double fd(Tensor t, long i, Supplier<Double> loss) {
        return FiniteDifference.central(t, i, H, loss::get);
    }

    private static double dot(Tensor a, float[] g) {
        float[] v = a.toFloatArray();
        double s = 0;
        for (int i = 0; i < v.length; i++) s += (double) v[i] * g[i];
        return s;
    }

    /** Compares the analytic gradient of input t with finite differences at up to 30 sampled elements. */
    private static void check(String what, Tensor t, float[] analytic, Supplier<Double> loss) {
        for (int s = 0; s < 30; s++) {
            long i = RND.nextInt((int) t.numel());
            double expected = fd(t, i, loss);
            assertEquals(
                    expected, analytic[(int) i], 2e-2 * Math.max(0.05, Math.abs(expected)), what + " element " + i);
        }
    }

    @Test
    void rmsNorm() {
        int m = 3, d = 24;
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, TestData.gaussian(RND, m * d, 2f), m, d),
                    w = Tensor.of(arena, TestData.gaussian(RND, d, 1f), d);
            float[] g = TestData.gaussian(RND, m * d, 1f);
            Tensor y = Tensor.allocate(arena, DType.F32, m, d), inv = Tensor.allocate(arena, DType.F32, m);
            Supplier<Double> loss = () -> {
                NnKernels.rmsNorm(x, w, 1e-5f, y, inv);
                return dot(y, g);
            };
            loss.get();
            Tensor dx = Tensor.allocate(arena, DType.F32, m, d), dw = Tensor.allocate(arena, DType.F32, d);
            NnKernels.rmsNormBackward(x, w, inv, Tensor.of(arena, g, m, d), dx, dw);
            check("rmsnorm dx", x, dx.toFloatArray(), loss);
            check("rmsnorm dw", w, dw.toFloatArray(), loss);
        }
    }

    @Test
    void rope() {
        int m = 4, heads = 2, hd = 6;
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, TestData.gaussian(RND, m * heads * hd, 1f), m, heads * hd);
            float[] g = TestData.gaussian(RND, m * heads * hd, 1f);
            Supplier<Double> loss = () -> {
                Tensor y = Tensor.of(arena, x.toFloatArray(), m, heads * hd);
                NnKernels.rope(y, heads, 5, 2, 10000f);
                return dot(y, g);
            };
            Tensor dx = Tensor.of(arena, g, m, heads * hd);
            NnKernels.ropeBackward(dx, heads, 5, 2, 10000f);
            check("rope dx", x, dx.toFloatArray(), loss);
        }
    }

    @Test
    void attentionOverSeveralSequencesWithGroupedHeads() {
        int b = 2, t = 5, heads = 4, kvHeads = 2, hd = 3;
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, TestData.gaussian(RND, b * t * heads * hd, 1f), b * t, heads * hd);
            Tensor k = Tensor.of(arena, TestData.gaussian(RND, b * t * kvHeads * hd, 1f), b * t, kvHeads * hd);
            Tensor v = Tensor.of(arena, TestData.gaussian(RND, b * t * kvHeads * hd, 1f), b * t, kvHeads * hd);
            float[] g = TestData.gaussian(RND, b * t * heads * hd, 1f);
            Tensor out = Tensor.allocate(arena, DType.F32, b * t, heads * hd),
                    probs = Tensor.allocate(arena, DType.F32, b, heads, t, t);
            Supplier<Double> loss = () -> {
                NnKernels.attentionTrain(q, k, v, b, t, heads, kvHeads, out, probs);
                return dot(out, g);
            };
            loss.get();
            Tensor dq = Tensor.allocate(arena, DType.F32, b * t, heads * hd);
            Tensor dk = Tensor.allocate(arena, DType.F32, b * t, kvHeads * hd),
                    dv = Tensor.allocate(arena, DType.F32, b * t, kvHeads * hd);
            NnKernels.attentionBackward(
                    q, k, v, probs, Tensor.of(arena, g, b * t, heads * hd), b, t, heads, kvHeads, dq, dk, dv);
            check("attention dq", q, dq.toFloatArray(), loss);
            check("attention dk", k, dk.toFloatArray(), loss);
            check("attention dv", v, dv.toFloatArray(), loss);

            // the training kernel agrees with the KV-cache kernel on each sequence
            Tensor ref = Tensor.allocate(arena, DType.F32, t, heads * hd);
            long qBytes = (long) t * heads * hd * 4, kBytes = (long) t * kvHeads * hd * 4;
            Tensor q1 = Tensor.wrap(q.segment().asSlice(qBytes, qBytes), DType.F32, t, heads * hd);
            Tensor k1 = Tensor.wrap(k.segment().asSlice(kBytes, kBytes), DType.F32, t, kvHeads * hd);
            Tensor v1 = Tensor.wrap(v.segment().asSlice(kBytes, kBytes), DType.F32, t, kvHeads * hd);
            NnKernels.attention(q1, k1, v1, 0, heads, kvHeads, ref);
            float[] batched = out.toFloatArray(), single = ref.toFloatArray();
            for (int i = 0; i < single.length; i++) assertEquals(single[i], batched[t * heads * hd + i], 1e-5);
        }
    }

    @Test
    void siluGate() {
        int n = 40;
        try (Arena arena = Arena.ofConfined()) {
            Tensor gate = Tensor.of(arena, TestData.gaussian(RND, n, 3f), n),
                    up = Tensor.of(arena, TestData.gaussian(RND, n, 1f), n);
            float[] g = TestData.gaussian(RND, n, 1f);
            Tensor out = Tensor.allocate(arena, DType.F32, n);
            Supplier<Double> loss = () -> {
                NnKernels.siluGate(gate, up, out);
                return dot(out, g);
            };
            Tensor dg = Tensor.allocate(arena, DType.F32, n), du = Tensor.allocate(arena, DType.F32, n);
            NnKernels.siluGateBackward(gate, up, Tensor.of(arena, g, n), dg, du);
            check("silu dgate", gate, dg.toFloatArray(), loss);
            check("silu dup", up, du.toFloatArray(), loss);
        }
    }

    @Test
    void crossEntropy() {
        int m = 3, vocab = 17;
        try (Arena arena = Arena.ofConfined()) {
            Tensor logits = Tensor.of(arena, TestData.gaussian(RND, m * vocab, 2f), m, vocab);
            Tensor targets = Tensor.allocate(arena, DType.I32, m), losses = Tensor.allocate(arena, DType.F32, m);
            for (int i = 0; i < m; i++) targets.segment().setAtIndex(ValueLayout.JAVA_INT, i, RND.nextInt(vocab));
            Supplier<Double> loss = () -> {
                NnKernels.crossEntropy(logits, targets, losses);
                double s = 0;
                for (float l : losses.toFloatArray()) s += l;
                return s / m;
            };
            Tensor d = Tensor.allocate(arena, DType.F32, m, vocab);
            NnKernels.crossEntropyBackward(logits, targets, 1f / m, d);
            check("cross-entropy dlogits", logits, d.toFloatArray(), loss);
        }
    }
}
