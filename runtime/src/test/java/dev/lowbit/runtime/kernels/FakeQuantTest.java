package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.ref.QuantRef;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import java.util.function.DoubleConsumer;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Fake-quant forward against the reference, and the straight-through backward against finite
 * differences of the straight-through surrogate: rounding replaced by the identity plus a constant
 * offset (the rounding residual at the evaluation point), clamp kept. Its exact derivatives are the
 * STE gradients, so central differences check grad_w, grad_scale and grad_magnitude together.
 * Elements whose code sits exactly on the clamp edge (0 or 2^b - 1) are kinks of the surrogate, so
 * the upstream gradient is zeroed there, for the kernel and the finite differences alike.
 */
class FakeQuantTest {
    static final int N = 4, K = 64, G = 16;

    record Setup(float[] w, float[] s, float[] z, float[] m, float[] gout, int bits) {}

    static Setup setup(int bits, long seed) {
        Random rnd = new Random(seed);
        float[] w = TestData.gaussian(rnd, N * K, 1f);
        float[] s = new float[N * K / G], z = new float[N * K / G], m = new float[N * K / G];
        for (int p = 0; p < s.length; p++) {
            // ranges narrower than the weights, so some elements clip
            float lo = -1.2f, hi = 1.2f;
            s[p] = (hi - lo) / QuantRef.maxq(bits);
            z[p] = (float) Math.rint(-lo / s[p]);
            m[p] = 0.8f + 0.4f * rnd.nextFloat();
        }
        return new Setup(w, s, z, m, TestData.gaussian(rnd, N * K, 1f), bits);
    }

    @ParameterizedTest(name = "{0}-bit")
    @ValueSource(ints = {2, 3, 4, 6, 8})
    void forwardMatchesReference(int bits) {
        Setup t = setup(bits, bits);
        try (Arena arena = Arena.ofConfined()) {
            float[] out = Kernels.fakeQuantForward(arena, Tensor.of(arena, t.w, N, K), params(arena, t))
                    .toFloatArray();
            for (int i = 0; i < N * K; i++) {
                int p = (i / K) * (K / G) + (i % K) / G;
                assertEquals(QuantRef.fakeQuant(t.w[i], t.s[p], t.z[p], t.m[p], bits), out[i], "element " + i);
            }
        }
    }

    @ParameterizedTest(name = "{0}-bit")
    @ValueSource(ints = {2, 3, 4, 6, 8})
    void backwardMatchesFiniteDifferences(int bits) {
        Setup t = maskClampEdges(setup(bits, 100 + bits));
        float[] gw, gs, gm;
        try (Arena arena = Arena.ofConfined()) {
            FakeQuantGrads g = Kernels.fakeQuantBackward(
                    arena, Tensor.of(arena, t.w, N, K), params(arena, t), Tensor.of(arena, t.gout, N, K));
            gw = g.weights().toFloatArray();
            gs = g.scales().toFloatArray();
            gm = g.magnitude().toFloatArray();
        }
        double[] w = toDouble(t.w), s = toDouble(t.s), m = toDouble(t.m);
        double[] offset = roundingResidual(t);
        double h = 1e-4;
        int clipped = 0;
        for (int i = 0; i < N * K; i++) {
            final int e = i;
            double fd = central(x -> w[e] = x, w[i], h, () -> surrogateLoss(t, w, s, m, offset));
            assertEquals(fd, gw[i], 1e-3 * Math.max(1, Math.abs(fd)), "dL/dw[" + i + "]");
            if (gw[i] == 0f && t.gout[i] != 0f) clipped++;
        }
        assertTrue(clipped > 0, "the setup must exercise the clamp");
        for (int p = 0; p < s.length; p++) {
            final int q = p;
            double fdS = central(x -> s[q] = x, s[p], h * s[p], () -> surrogateLoss(t, w, s, m, offset));
            assertEquals(fdS, gs[p], 2e-3 * Math.max(1, Math.abs(fdS)), "dL/ds[" + p + "]");
            double fdM = central(x -> m[q] = x, m[p], h, () -> surrogateLoss(t, w, s, m, offset));
            assertEquals(fdM, gm[p], 1e-3 * Math.max(1, Math.abs(fdM)), "dL/dm[" + p + "]");
        }
    }

    private static FakeQuantParams params(Arena arena, Setup t) {
        return new FakeQuantParams(
                Tensor.of(arena, t.s, N, K / G),
                Tensor.of(arena, t.z, N, K / G),
                Tensor.of(arena, t.m, N, K / G),
                t.bits,
                G);
    }

    /** rint(w / s) - w / s at the evaluation point, held constant in the surrogate. */
    private static double[] roundingResidual(Setup t) {
        double[] c = new double[N * K];
        for (int i = 0; i < c.length; i++) {
            float s = t.s[param(i)];
            c[i] = Math.rint(QuantRef.scaled(t.w[i], s)) - (double) t.w[i] / s;
        }
        return c;
    }

    private static Setup maskClampEdges(Setup t) {
        float[] gout = t.gout.clone();
        for (int i = 0; i < gout.length; i++) {
            int p = param(i);
            float code = (float) Math.rint(QuantRef.scaled(t.w[i], t.s[p])) + t.z[p];
            if (code == 0f || code == QuantRef.maxq(t.bits)) gout[i] = 0f;
        }
        return new Setup(t.w, t.s, t.z, t.m, gout, t.bits);
    }

    /** sum of gout * m * s * (clamp(w / s + offset + z, 0, maxq) - z). */
    private static double surrogateLoss(Setup t, double[] w, double[] s, double[] m, double[] offset) {
        double loss = 0, maxq = QuantRef.maxq(t.bits);
        for (int i = 0; i < N * K; i++) {
            int p = param(i);
            double q = Math.min(Math.max(w[i] / s[p] + offset[i] + t.z[p], 0), maxq);
            loss += t.gout[i] * m[p] * s[p] * (q - t.z[p]);
        }
        return loss;
    }

    private static int param(int i) {
        return (i / K) * (K / G) + (i % K) / G;
    }

    private static double central(DoubleConsumer set, double x0, double h, DoubleSupplier f) {
        set.accept(x0 + h);
        double up = f.getAsDouble();
        set.accept(x0 - h);
        double down = f.getAsDouble();
        set.accept(x0);
        return (up - down) / (2 * h);
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }
}
