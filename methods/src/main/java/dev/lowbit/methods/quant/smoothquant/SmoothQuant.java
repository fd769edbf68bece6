package dev.lowbit.methods.quant.smoothquant;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.BlockPass;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.train.LlamaParameters;
import dev.lowbit.runtime.model.LlamaWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import dev.lowbit.methods.quant.rtn.Rtn;

/**
 * The SmoothQuant-style baseline QLLM is compared with: at each of the three sites (q/k/v,
 * gate/up, down inputs) per-channel factors s_c = max|x_c|^alpha / max_o |W[o, c]|^(1 - alpha),
 * from calibration activations, divide the activations and multiply the weight columns. The
 * division is folded into the preceding RMSNorm weight (or, for down_proj, into up_proj's rows),
 * so the full-precision model is unchanged; then RTN quantizes weights and activations.
 */
public final class SmoothQuant {
    private static final float MIN_FACTOR = 1e-5f;

    private SmoothQuant() {}

    public static LlamaModel quantize(Arena arena, LlamaWeights fp, int[][] calibration, float alpha, QuantSpec spec, int abits, int qkvBits) {
        return Rtn.quantize(arena, smooth(arena, fp, calibration, alpha).weights(), spec, abits, qkvBits);
    }

    /** The smoothed full-precision weights: the same function as fp, activation outliers moved into the weights. */
    public static LlamaParameters smooth(Arena arena, LlamaWeights fp, int[][] calibration, float alpha) {
        if (!(alpha >= 0 && alpha <= 1)) throw new LowbitException("the SmoothQuant alpha must be in [0, 1], got " + alpha);
        float[][][] maxAbs = siteMaxAbs(fp, calibration);
        LlamaParameters p = LlamaParameters.copyOf(arena, fp);
        for (int l = 0; l < fp.config().layers(); l++) {
            LlamaWeights.Layer w = p.weights().layers().get(l);
            float[] s0 = factors(maxAbs[l][0], alpha, w.wq(), w.wk(), w.wv());
            divide(w.attentionNorm(), s0);
            for (Tensor t : new Tensor[] {w.wq(), w.wk(), w.wv()}) scaleColumns(t, s0);
            float[] s1 = factors(maxAbs[l][1], alpha, w.w1(), w.w3());
            divide(w.ffnNorm(), s1);
            for (Tensor t : new Tensor[] {w.w1(), w.w3()}) scaleColumns(t, s1);
            float[] s2 = factors(maxAbs[l][2], alpha, w.w2());
            scaleRows(w.w3(), s2);
            scaleColumns(w.w2(), s2);
        }
        return p;
    }

    /** max|x_c| per layer, site and channel of the full-precision model over the calibration sequences. */
    static float[][][] siteMaxAbs(LlamaWeights fp, int[][] calibration) {
        LlamaConfig c = fp.config();
        int seqLen = calibration[0].length;
        float[][][] max = new float[c.layers()][][];
        for (int l = 0; l < c.layers(); l++) max[l] = new float[][] {new float[c.dim()], new float[c.dim()], new float[c.hiddenDim()]};
        try (Arena arena = Arena.ofConfined()) {
            BlockPass.Scratch scratch = new BlockPass.Scratch(arena, c, seqLen);
            BlockPass[] blocks = new BlockPass[c.layers()];
            for (int l = 0; l < c.layers(); l++) blocks[l] = BlockPass.frozen(arena, c, 1, seqLen, fp.layers().get(l), scratch);
            Tensor a = Tensor.allocate(arena, DType.F32, seqLen, c.dim()), b = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            for (int[] seq : calibration) {
                if (seq.length != seqLen) throw new LowbitException("calibration sequences of " + seq.length + " and " + seqLen + " tokens");
                fp.embed(seq, a);
                for (int l = 0; l < c.layers(); l++) {
                    blocks[l].forward(l % 2 == 0 ? a : b, l % 2 == 0 ? b : a);
                    Tensor[] sites = blocks[l].siteInputs();
                    for (int s = 0; s < sites.length; s++) {
                        float[] v = sites[s].toFloatArray();
                        for (int i = 0; i < v.length; i++) max[l][s][i % max[l][s].length] = Math.max(max[l][s][i % max[l][s].length], Math.abs(v[i]));
                    }
                }
            }
        }
        return max;
    }

    /** s_c = max|x_c|^alpha / max over the site's weights of |W[o, c]|^(1 - alpha), at least MIN_FACTOR. */
    static float[] factors(float[] maxAbs, float alpha, Tensor... weights) {
        float[] wmax = new float[maxAbs.length];
        for (Tensor w : weights) {
            float[] v = w.toFloatArray();
            for (int i = 0; i < v.length; i++) wmax[i % wmax.length] = Math.max(wmax[i % wmax.length], Math.abs(v[i]));
        }
        float[] s = new float[maxAbs.length];
        for (int i = 0; i < s.length; i++)
            s[i] = Math.max(MIN_FACTOR, (float) (Math.pow(Math.max(maxAbs[i], MIN_FACTOR), alpha) / Math.pow(Math.max(wmax[i], MIN_FACTOR), 1 - alpha)));
        return s;
    }

    private static void divide(Tensor t, float[] s) {
        MemorySegment m = t.segment();
        for (int i = 0; i < s.length; i++) {
            float v = m.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            m.setAtIndex(ValueLayout.JAVA_FLOAT, i, v / s[i]);
        }
    }

    private static void scaleColumns(Tensor w, float[] s) {
        MemorySegment m = w.segment();
        for (long i = 0; i < w.numel(); i++)
            m.setAtIndex(ValueLayout.JAVA_FLOAT, i, m.getAtIndex(ValueLayout.JAVA_FLOAT, i) * s[(int) (i % s.length)]);
    }

    private static void scaleRows(Tensor w, float[] s) {
        MemorySegment m = w.segment();
        long cols = w.dim(1);
        for (long i = 0; i < w.numel(); i++)
            m.setAtIndex(ValueLayout.JAVA_FLOAT, i, m.getAtIndex(ValueLayout.JAVA_FLOAT, i) / s[(int) (i / cols)]);
    }
}
