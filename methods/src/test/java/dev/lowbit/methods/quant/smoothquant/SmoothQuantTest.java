package dev.lowbit.methods.quant.smoothquant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.methods.TokenWindows;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.ActivationSite;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Smoothing moves activation range into the weights without changing the full-precision model. */
class SmoothQuantTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void smoothedModelComputesTheSameFunctionWithFlatterActivations() {
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp =
                    ModelFiles.open(ROOT.resolve("models/default").toString(), arena);
            int[] train = fp.tokenizer()
                    .orElseThrow()
                    .encode(Corpus.trainingText(Corpus.locate(null, ROOT)).substring(0, 200_000));
            int[][] calib = new TokenWindows(train, 64, 3).sequences(8);
            LlamaParameters smoothed = SmoothQuant.smooth(arena, fp.weights(), calib, 0.5f);
            LlamaModel a = fp.model(), b = new LlamaModel(smoothed.weights());
            float[] la = a.forward(arena, calib[0], a.newCache(arena)).toFloatArray(),
                    lb = b.forward(arena, calib[0], b.newCache(arena)).toFloatArray();
            for (int i = 0; i < la.length; i++) assertEquals(la[i], lb[i], 2e-3 * (1 + Math.abs(la[i])), "logit " + i);

            // at alpha 0.5 each channel's activation range and weight range meet: max|x_c / s_c| = max_o |W[o, c] s_c|
            // (checked where no later fold rescales the weights: the q/k/v inputs and the down_proj input)
            float[][][] after = SmoothQuant.siteMaxAbs(smoothed.weights(), calib);
            for (int l = 0; l < after.length; l++) {
                Projections<Tensor> w = smoothed.weights().layers().get(l).linears();
                assertMeet(
                        after[l][ActivationSite.QKV.ordinal()],
                        columnMax(w.q(), w.k(), w.v()),
                        "layer " + l + " q/k/v");
                assertMeet(after[l][ActivationSite.DOWN.ordinal()], columnMax(w.down()), "layer " + l + " down");
            }
        }
    }

    static void assertMeet(float[] act, float[] weight, String where) {
        for (int c = 0; c < act.length; c++) assertEquals(act[c], weight[c], 2e-3 * weight[c], where + " channel " + c);
    }

    static float[] columnMax(Tensor... ws) {
        float[] m = new float[(int) ws[0].dim(1)];
        for (var w : ws) {
            float[] v = w.toFloatArray();
            for (int i = 0; i < v.length; i++) m[i % m.length] = Math.max(m[i % m.length], Math.abs(v[i]));
        }
        return m;
    }
}
