package dev.lowbit.methods.quant.smoothquant;

import dev.lowbit.methods.quant.BlockWeights;
import dev.lowbit.methods.quant.rtn.Rtn;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.QuantizedCheckpointWriter;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.ActivationSite;
import dev.lowbit.runtime.train.BlockPass;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * The SmoothQuant-style baseline QLLM is compared with: at each of the three sites (q/k/v,
 * gate/up, down inputs) per-channel factors s_c = max|x_c|^alpha / max_o |W[o, c]|^(1 - alpha),
 * from calibration activations, divide the activations and multiply the weight columns. The
 * division is folded into the preceding RMSNorm weight (or, for down_proj, into up_proj's rows),
 * so the full-precision model is unchanged; then RTN quantizes weights and activations. Calibration
 * runs block by block (see {@link #calibrate}), so {@link #write} holds one block in fp32 at a time.
 */
public final class SmoothQuant {
    private static final float MIN_FACTOR = 1e-5f;

    /** Sees block l's fp32 weights and its sites' max|x_c| ({@link ActivationSite#ordinal}) over the calibration. */
    @FunctionalInterface
    interface BlockVisitor {
        void visit(int l, LlamaWeights.Layer weights, float[][] maxAbs);
    }

    private SmoothQuant() {}

    public static LlamaModel quantize(
            Arena arena, LlamaWeights fp, int[][] calibration, float alpha, QuantSpec spec, int abits, int qkvBits) {
        return Rtn.quantize(arena, smooth(arena, fp, calibration, alpha).weights(), spec, abits, qkvBits);
    }

    /** The smoothed full-precision weights: the same function as fp, activation outliers moved into the weights. */
    public static LlamaParameters smooth(Arena arena, LlamaWeights fp, int[][] calibration, float alpha) {
        checkAlpha(alpha);
        LlamaParameters p = LlamaParameters.copyOf(arena, fp);
        calibrate(fp, false, calibration, (l, w, maxAbs) -> {
            smoothBlock(w, maxAbs, alpha);
            LlamaWeights.Layer to = p.weights().layers().get(l);
            to.attentionNorm().copyFrom(w.attentionNorm());
            to.ffnNorm().copyFrom(w.ffnNorm());
            for (Projection j : Projection.values())
                to.linears().get(j).copyFrom(w.linears().get(j));
        });
        return p;
    }

    /**
     * SmoothQuant streamed into a quantized checkpoint in dir (see QuantizedCheckpointWriter), block
     * by block from the weights as stored (hfRotaryOrder: q_proj and k_proj in Hugging Face's row
     * order): each block widened to fp32, its sites measured on the calibration hidden states, smoothed,
     * quantized and written, then dropped; blockDone is told each finished block. The codes are those of
     * {@link #quantize}.
     */
    public static void write(
            LlamaWeights stored,
            boolean hfRotaryOrder,
            int[][] calibration,
            float alpha,
            QuantSpec spec,
            int abits,
            int qkvBits,
            Path dir,
            Map<String, String> metadata,
            long maxShardBytes,
            IntConsumer blockDone) {
        checkAlpha(alpha);
        try (QuantizedCheckpointWriter out =
                new QuantizedCheckpointWriter(stored, spec, abits, qkvBits, null, dir, metadata, maxShardBytes)) {
            calibrate(stored, hfRotaryOrder, calibration, (l, w, maxAbs) -> {
                smoothBlock(w, maxAbs, alpha);
                String p = "model.layers." + l + ".";
                out.put(p + "input_layernorm.weight", w.attentionNorm());
                out.put(p + "post_attention_layernorm.weight", w.ffnNorm());
                for (Projection j : Projection.values())
                    try (Arena linear = Arena.ofConfined()) {
                        out.putLinear(
                                j.weightName(l),
                                Rtn.quantize(linear, w.linears().get(j), spec));
                    }
                blockDone.accept(l + 1);
            });
            stored.named().forEach((name, t) -> {
                if (!name.startsWith("model.layers.")) out.put(name, t); // embedding, final norm, head: as stored
            });
            out.finish();
        }
    }

    private static void checkAlpha(float alpha) {
        if (!(alpha >= 0 && alpha <= 1))
            throw new LowbitException("the SmoothQuant alpha must be in [0, 1], got " + alpha);
    }

    /** Moves block w's activation outliers (site maxima maxAbs) into its weights, in place. */
    private static void smoothBlock(LlamaWeights.Layer w, float[][] maxAbs, float alpha) {
        for (ActivationSite site : ActivationSite.values()) {
            Tensor[] readers = site.readers().stream().map(w.linears()::get).toArray(Tensor[]::new);
            float[] s = factors(maxAbs[site.ordinal()], alpha, readers);
            switch (site) { // where the division goes: the norm before the site, or up_proj's rows for down's input
                case QKV -> divide(w.attentionNorm(), s);
                case GATE_UP -> divide(w.ffnNorm(), s);
                case DOWN -> scaleRows(w.linears().up(), s);
            }
            for (Tensor t : readers) scaleColumns(t, s);
        }
    }

    /** max|x_c| per layer, site ({@link ActivationSite#ordinal}) and channel of the fp model over the calibration sequences. */
    static float[][][] siteMaxAbs(LlamaWeights fp, int[][] calibration) {
        float[][][] max = new float[fp.config().layers()][][];
        calibrate(fp, false, calibration, (l, w, maxAbs) -> max[l] = maxAbs);
        return max;
    }

    /**
     * Runs the calibration sequences through the fp model one block at a time, each block widened
     * from fp (as stored) into fp32 for its turn only: visit sees the block and its sites' maxima
     * once every sequence has passed it (the hidden states entering the next block are computed
     * first, so visit may change the weights).
     */
    static void calibrate(LlamaWeights fp, boolean hfRotaryOrder, int[][] calibration, BlockVisitor visit) {
        LlamaConfig c = fp.config();
        int seqLen = calibration[0].length;
        for (int[] seq : calibration)
            if (seq.length != seqLen)
                throw new LowbitException("calibration sequences of " + seq.length + " and " + seqLen + " tokens");
        try (Arena arena = Arena.ofConfined()) {
            BlockPass.Scratch scratch = new BlockPass.Scratch(arena, c, seqLen);
            Tensor hidden = Tensor.allocate(arena, DType.F32, (long) calibration.length * seqLen, c.dim()),
                    out = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            for (int i = 0; i < calibration.length; i++)
                fp.embed(calibration[i], hidden.rows((long) i * seqLen, seqLen));
            for (int l = 0; l < c.layers(); l++)
                try (Arena block = Arena.ofConfined()) {
                    LlamaWeights.Layer w = BlockWeights.widened(block, fp, hfRotaryOrder, l);
                    BlockPass pass = BlockPass.frozen(block, c, 1, seqLen, w, scratch);
                    float[][] max = new float[ActivationSite.values().length][];
                    for (ActivationSite site : ActivationSite.values()) max[site.ordinal()] = new float[site.width(c)];
                    for (int i = 0; i < calibration.length; i++) {
                        Tensor x = hidden.rows((long) i * seqLen, seqLen);
                        pass.forward(x, out);
                        for (ActivationSite site : ActivationSite.values()) {
                            float[] v = pass.input(site).toFloatArray(), m = max[site.ordinal()];
                            for (int k = 0; k < v.length; k++)
                                m[k % m.length] = Math.max(m[k % m.length], Math.abs(v[k]));
                        }
                        x.copyFrom(out);
                    }
                    visit.visit(l, w, max);
                }
        }
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
