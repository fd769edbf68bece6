package dev.lowbit.methods.quant.smoothquant;

import dev.lowbit.methods.quant.rtn.Rtn;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.ActivationSite;
import dev.lowbit.runtime.train.BlockPass;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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

    public static LlamaModel quantize(
            Arena arena, LlamaWeights fp, int[][] calibration, float alpha, QuantSpec spec, int abits, int qkvBits) {
        return Rtn.quantize(arena, smooth(arena, fp, calibration, alpha).weights(), spec, abits, qkvBits);
    }

    /** The smoothed full-precision weights: the same function as fp, activation outliers moved into the weights. */
    public static LlamaParameters smooth(Arena arena, LlamaWeights fp, int[][] calibration, float alpha) {
        if (!(alpha >= 0 && alpha <= 1))
            throw new LowbitException("the SmoothQuant alpha must be in [0, 1], got " + alpha);
        float[][][] maxAbs = siteMaxAbs(fp, calibration);
        LlamaParameters p = LlamaParameters.copyOf(arena, fp);
        for (int l = 0; l < fp.config().layers(); l++) {
            LlamaWeights.Layer w = p.weights().layers().get(l);
            for (ActivationSite site : ActivationSite.values()) {
                Tensor[] readers = site.readers().stream().map(w.linears()::get).toArray(Tensor[]::new);
                float[] s = factors(maxAbs[l][site.ordinal()], alpha, readers);
                switch (site) { // where the division goes: the norm before the site, or up_proj's rows for down's input
                    case QKV -> divide(w.attentionNorm(), s);
                    case GATE_UP -> divide(w.ffnNorm(), s);
                    case DOWN -> scaleRows(w.linears().up(), s);
                }
                for (Tensor t : readers) scaleColumns(t, s);
            }
        }
        return p;
    }

    /** max|x_c| per layer, site ({@link ActivationSite#ordinal}) and channel of the fp model over the calibration sequences. */
    static float[][][] siteMaxAbs(LlamaWeights fp, int[][] calibration) {
        LlamaConfig c = fp.config();
        int seqLen = calibration[0].length;
        float[][][] max = new float[c.layers()][][];
        for (int l = 0; l < c.layers(); l++) {
            max[l] = new float[ActivationSite.values().length][];
            for (ActivationSite site : ActivationSite.values()) max[l][site.ordinal()] = new float[site.width(c)];
        }
        try (Arena arena = Arena.ofConfined()) {
            BlockPass.Scratch scratch = new BlockPass.Scratch(arena, c, seqLen);
            BlockPass[] blocks = new BlockPass[c.layers()];
            for (int l = 0; l < c.layers(); l++)
                blocks[l] = BlockPass.frozen(arena, c, 1, seqLen, fp.layers().get(l), scratch);
            Tensor a = Tensor.allocate(arena, DType.F32, seqLen, c.dim()),
                    b = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            for (int[] seq : calibration) {
                if (seq.length != seqLen)
                    throw new LowbitException("calibration sequences of " + seq.length + " and " + seqLen + " tokens");
                fp.embed(seq, a);
                for (int l = 0; l < c.layers(); l++) {
                    blocks[l].forward(l % 2 == 0 ? a : b, l % 2 == 0 ? b : a);
                    for (ActivationSite site : ActivationSite.values()) {
                        float[] v = blocks[l].input(site).toFloatArray(), m = max[l][site.ordinal()];
                        for (int i = 0; i < v.length; i++) m[i % m.length] = Math.max(m[i % m.length], Math.abs(v[i]));
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
            s[i] = Math.max(MIN_FACTOR, (float) (Math.pow(Math.max(maxAbs[i], MIN_FACTOR), alpha)
                    / Math.pow(Math.max(wmax[i], MIN_FACTOR), 1 - alpha)));
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
