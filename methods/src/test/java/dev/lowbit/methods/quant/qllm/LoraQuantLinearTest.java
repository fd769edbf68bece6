package dev.lowbit.methods.quant.qllm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The error-correction linear: straight-through gradients against a plain-Java evaluation of the
 * same formulas, and the merged layer's real quantized form against its training forward.
 */
class LoraQuantLinearTest {
    static final int M = 6, C = 24, OUT = 5, R = 3;
    static final float SCALE = 0.25f;

    @Test
    void gradientsPassStraightThroughBothQuantizersAndTheReassembly() {
        Random rnd = new Random(11);
        float[][] tokens = ChannelReassemblyTest.tokens(rnd);
        float[] w = ChannelReassemblyTest.weights(rnd);
        ChannelReassembly.Plan plan =
                ChannelReassembly.plan(ChannelReassembly.SiteStats.of(tokens, ChannelReassemblyTest.columnSums(w)), 6f);
        int k = plan.outChannels(); // the reassembled width
        try (Arena arena = Arena.ofConfined()) {
            float[] x = TestData.gaussian(rnd, M * C, 1f), dy = TestData.gaussian(rnd, M * OUT, 1f);
            float[] av = TestData.gaussian(rnd, R * k, 1f), bv = TestData.gaussian(rnd, OUT * R, 1f);
            Tensor a = Tensor.of(arena, av, R, k), b = Tensor.of(arena, bv, OUT, R);
            Tensor ga = Tensor.allocate(arena, DType.F32, R, k), gb = Tensor.allocate(arena, DType.F32, OUT, R);
            Tensor relaid = Tensor.of(arena, plan.reassembleWeights(w, OUT), OUT, k);
            LoraQuantLinear lin = new LoraQuantLinear(
                    arena,
                    plan.toMap(arena),
                    relaid,
                    a,
                    b,
                    ga,
                    gb,
                    SCALE,
                    QuantSpec.of(4, QuantSpec.PER_CHANNEL),
                    4,
                    M);
            Tensor xt = Tensor.of(arena, x, M, C),
                    y = Tensor.allocate(arena, DType.F32, M, OUT),
                    dx = Tensor.allocate(arena, DType.F32, M, C);
            lin.forward(xt, y);
            lin.backward(xt, Tensor.of(arena, dy, M, OUT), dx, 0f);

            // reference: xq = Q_a(R x), wq = Q_w(W' + s B A); dWq = dy^T xq; dB = s dWq A^T; dA = s B^T dWq; dx = R^T
            // (dy wq)
            float[] xr = new float[M * k];
            for (int t = 0; t < M; t++)
                System.arraycopy(plan.apply(Arrays.copyOfRange(x, t * C, (t + 1) * C)), 0, xr, t * k, k);
            Tensor xq = Tensor.of(arena, xr, M, k);
            Kernels.fakeQuantGroups(xq, k, 4, xq);
            float[] weff = plan.reassembleWeights(w, OUT);
            for (int o = 0; o < OUT; o++)
                for (int j = 0; j < k; j++)
                    for (int r = 0; r < R; r++) weff[o * k + j] += SCALE * bv[o * R + r] * av[r * k + j];
            Tensor wq = Tensor.of(arena, weff, OUT, k);
            Kernels.fakeQuantGroups(wq, k, 4, wq);
            float[] xqv = xq.toFloatArray(), wqv = wq.toFloatArray();
            double[] dW = new double[OUT * k];
            for (int t = 0; t < M; t++)
                for (int o = 0; o < OUT; o++)
                    for (int j = 0; j < k; j++) dW[o * k + j] += dy[t * OUT + o] * xqv[t * k + j];
            for (int t = 0; t < M; t++)
                for (int o = 0; o < OUT; o++) {
                    double yo = 0;
                    for (int j = 0; j < k; j++) yo += xqv[t * k + j] * wqv[o * k + j];
                    assertEquals(yo, y.getFloat(t, o), 1e-4 * (1 + Math.abs(yo)), "y");
                }
            for (int o = 0; o < OUT; o++)
                for (int r = 0; r < R; r++) {
                    double g = 0;
                    for (int j = 0; j < k; j++) g += SCALE * dW[o * k + j] * av[r * k + j];
                    assertEquals(g, gb.getFloat(o, r), 1e-4 * (1 + Math.abs(g)), "dB");
                }
            for (int r = 0; r < R; r++)
                for (int j = 0; j < k; j++) {
                    double g = 0;
                    for (int o = 0; o < OUT; o++) g += SCALE * bv[o * R + r] * dW[o * k + j];
                    assertEquals(g, ga.getFloat(r, j), 1e-4 * (1 + Math.abs(g)), "dA");
                }
            for (int t = 0; t < M; t++) {
                double[] dxr = new double[k], ref = new double[C];
                for (int j = 0; j < k; j++) for (int o = 0; o < OUT; o++) dxr[j] += dy[t * OUT + o] * wqv[o * k + j];
                for (int j = 0; j < k; j++) {
                    ref[plan.ia()[j]] += plan.sa()[j] * dxr[j];
                    ref[plan.ib()[j]] += plan.sb()[j] * dxr[j];
                }
                for (int c = 0; c < C; c++)
                    assertEquals(ref[c], dx.getFloat(t, c), 1e-4 * (1 + Math.abs(ref[c])), "dx[" + t + ", " + c + "]");
            }
        }
    }

    @Test
    void mergedLayerExportsToTheSameQuantizedProduct() {
        Random rnd = new Random(12);
        float[][] tokens = ChannelReassemblyTest.tokens(rnd);
        float[] w = ChannelReassemblyTest.weights(rnd);
        ChannelReassembly.Plan plan =
                ChannelReassembly.plan(ChannelReassembly.SiteStats.of(tokens, ChannelReassemblyTest.columnSums(w)), 6f);
        int k = plan.outChannels();
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.of(arena, TestData.gaussian(rnd, R * k, 1f), R, k),
                    b = Tensor.of(arena, TestData.gaussian(rnd, OUT * R, 1f), OUT, R);
            Tensor ga = Tensor.allocate(arena, DType.F32, R, k), gb = Tensor.allocate(arena, DType.F32, OUT, R);
            LoraQuantLinear lin = new LoraQuantLinear(
                    arena,
                    plan.toMap(arena),
                    Tensor.of(arena, plan.reassembleWeights(w, OUT), OUT, k),
                    a,
                    b,
                    ga,
                    gb,
                    SCALE,
                    QuantSpec.of(4, QuantSpec.PER_CHANNEL),
                    8,
                    M);
            Tensor x = Tensor.of(arena, TestData.gaussian(rnd, M * C, 1f), M, C),
                    before = Tensor.allocate(arena, DType.F32, M, OUT);
            Tensor after = Tensor.allocate(arena, DType.F32, M, OUT),
                    exported = Tensor.allocate(arena, DType.F32, M, OUT);
            lin.forward(x, before);
            lin.merge();
            assertEquals(0f, b.getFloat(2, 1), "B is zero after the merge");
            lin.forward(x, after);
            lin.export(arena).apply(arena, x, exported, 0f);
            float[] y0 = before.toFloatArray(), y1 = after.toFloatArray(), y2 = exported.toFloatArray();
            for (int i = 0; i < y0.length; i++) {
                assertEquals(y0[i], y1[i], 1e-4f * (1 + Math.abs(y0[i])), "merging changes nothing the forward sees");
                assertEquals(
                        y1[i],
                        y2[i],
                        1e-4f * (1 + Math.abs(y1[i])),
                        "the integer W4A8 layer computes the fake-quantized product");
            }
        }
    }
}
