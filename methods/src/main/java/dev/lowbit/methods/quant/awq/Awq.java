package dev.lowbit.methods.quant.awq;

import dev.lowbit.methods.quant.rtn.Rtn;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * AWQ (Lin et al. 2023, as AutoAWQ runs it), block by block on the full-precision model's hidden
 * states: for each group of linears that read one input (q/k/v after the attention norm, o after
 * v when their shapes allow it, gate/up after the MLP norm, down after up), the per-input-channel
 * scale s (see {@link AwqConfig}) whose rounded weights Q(W·s)/s best reproduce the module's
 * output over the calibration tokens (the attention's output for q/k/v, the MLP's for gate/up,
 * the layer's own otherwise), searched over α on a grid; s multiplies the group's weight columns
 * and divides the preceding RMSNorm weight or linear's rows, so the full-precision function is
 * unchanged. Then (optionally) each linear but q/k gets the clipping range per output row and
 * group that best keeps that group's share of the output on the scaled inputs, and RTN rounds the
 * result. {@link #transformBlock} is the per-block entry point.
 */
public final class Awq {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private final AwqConfig cfg;
    private final PrintStream log;

    public Awq(AwqConfig cfg, PrintStream log) {
        this.cfg = cfg;
        this.log = log;
    }

    /** The quantized model: {@link #transform} then RTN at cfg's format (activations as RTN quantizes them). */
    public LlamaModel quantize(Arena arena, LlamaWeights fp, int[][] calibration, int abits, int qkvBits) {
        return quantize(arena, fp, calibration, abits, qkvBits, null, Integer.MAX_VALUE)
                .orElseThrow();
    }

    /** As {@link #quantize(Arena, LlamaWeights, int[][], int, int)}, resuming as {@link #transform(Arena, LlamaWeights, int[][], Path, int)} does. */
    public Optional<LlamaModel> quantize(
            Arena arena, LlamaWeights fp, int[][] calibration, int abits, int qkvBits, Path checkpoint, int stopAfter) {
        return transform(arena, fp, calibration, checkpoint, stopAfter)
                .map(p -> Rtn.quantize(arena, p.weights(), cfg.spec(), abits, qkvBits));
    }

    /** A copy of fp with AWQ's scales folded in (the same fp function) and, with cfg.clip(), its weights clipped. */
    public LlamaParameters transform(Arena arena, LlamaWeights fp, int[][] calibration) {
        return transform(arena, fp, calibration, null, Integer.MAX_VALUE).orElseThrow();
    }

    /**
     * As {@link #transform(Arena, LlamaWeights, int[][])}, resuming from checkpoint when it holds a
     * run with the same settings and calibration, and writing it after every block but the last
     * (null: none). Empty when the run stopped after block stopAfter - 1, to be resumed.
     */
    public Optional<LlamaParameters> transform(
            Arena arena, LlamaWeights fp, int[][] calibration, Path checkpoint, int stopAfter) {
        if (calibration.length == 0) throw new LowbitException("AWQ needs at least one calibration sequence");
        int seqLen = calibration[0].length, layers = fp.config().layers();
        LlamaParameters p = LlamaParameters.copyOf(arena, fp);
        try (Arena work = Arena.ofConfined()) {
            Tensor[] hidden = new Tensor[calibration.length];
            for (int s = 0; s < calibration.length; s++) {
                if (calibration[s].length != seqLen)
                    throw new LowbitException(
                            "calibration sequences of " + calibration[s].length + " and " + seqLen + " tokens");
                hidden[s] = Tensor.allocate(work, DType.F32, seqLen, fp.config().dim());
                fp.embed(calibration[s], hidden[s]);
            }
            int start = 0;
            if (checkpoint != null && Files.isRegularFile(checkpoint)) {
                start = AwqCheckpoint.restore(checkpoint, cfg, calibration, p.weights(), hidden);
                log.printf("resuming AWQ from %s at block %d%n", checkpoint, start);
            }
            for (int l = start; l < layers; l++) {
                long t0 = System.nanoTime();
                String chosen = transformBlock(fp.config(), p.weights().layers().get(l), hidden);
                log.printf(
                        "AWQ block %d/%d (%.1f s): best α %s%n", l + 1, layers, (System.nanoTime() - t0) / 1e9, chosen);
                if (checkpoint == null || l + 1 == layers) continue;
                AwqCheckpoint.save(checkpoint, cfg, calibration, p.weights(), l + 1, hidden);
                if (l + 1 >= stopAfter) {
                    log.printf("stopped after block %d; run again with the same arguments to resume%n", l);
                    return Optional.empty();
                }
            }
        }
        return Optional.of(p);
    }

    /** The inputs and outputs of a block's parts on every calibration sequence, as the fp block computes them. */
    private record Captured(
            Tensor[] xb1, Tensor[] att, Tensor[] xb2, Tensor[] gated, Tensor[] attnOut, Tensor[] mlpOut) {}

    /** A module whose output AWQ's loss compares: sequence s through candidate weights into out. */
    private interface Module {
        void forward(int s, List<Tensor> weights, Tensor out);
    }

    /**
     * Scales (and clips) one block in place (block: mutable fp32 weights) on the hidden states
     * entering it, which are replaced by the fp block's outputs; returns the chosen α per site.
     */
    public String transformBlock(LlamaConfig c, LlamaWeights.Layer block, Tensor[] hidden) {
        int seqLen = (int) hidden[0].dim(0), n = hidden.length;
        var w = block.linears();
        StringBuilder chosen = new StringBuilder();
        try (Arena arena = Arena.ofConfined()) {
            BlockForward f = new BlockForward(arena, c, seqLen);
            Captured cap = capture(arena, c, block, hidden, f);
            Tensor att = Tensor.allocate(arena, DType.F32, seqLen, c.dim()),
                    gated = Tensor.allocate(arena, DType.F32, seqLen, c.hiddenDim());
            // every site searched on the original weights, as AutoAWQ does, then all folded
            float[] sQkv = search(
                    "q/k/v",
                    List.of(w.q(), w.k(), w.v()),
                    cap.xb1(),
                    cap.attnOut(),
                    (s, ws, out) -> f.attention(cap.xb1()[s], ws.get(0), ws.get(1), ws.get(2), w.o(), att, out),
                    chosen);
            boolean vo = c.kvDim() == c.dim(); // o's input channels are v's rows only without grouped-query heads
            float[] sO = vo
                    ? search(
                            "o",
                            List.of(w.o()),
                            cap.att(),
                            cap.attnOut(),
                            (s, ws, out) ->
                                    Kernels.matmul(cap.att()[s], ws.get(0).transpose(), out, 1f, 0f),
                            chosen)
                    : null;
            float[] sGateUp = search(
                    "gate/up",
                    List.of(w.gate(), w.up()),
                    cap.xb2(),
                    cap.mlpOut(),
                    (s, ws, out) -> f.mlp(cap.xb2()[s], ws.get(0), ws.get(1), w.down(), gated, out),
                    chosen);
            float[] sDown = search(
                    "down",
                    List.of(w.down()),
                    cap.gated(),
                    cap.mlpOut(),
                    (s, ws, out) -> Kernels.matmul(cap.gated()[s], ws.get(0).transpose(), out, 1f, 0f),
                    chosen);
            divide(block.attentionNorm(), sQkv);
            for (Tensor t : List.of(w.q(), w.k(), w.v())) scaleColumns(t, sQkv);
            if (vo) {
                divideRows(w.v(), sO);
                scaleColumns(w.o(), sO);
            }
            divide(block.ffnNorm(), sGateUp);
            for (Tensor t : List.of(w.gate(), w.up())) scaleColumns(t, sGateUp);
            divideRows(w.up(), sDown);
            scaleColumns(w.down(), sDown);
            if (cfg.clip()) {
                Tensor xQkv = sampled(arena, cap.xb1(), sQkv);
                clip(arena, w.v(), xQkv); // q and k are not clipped (AutoAWQ: their products feed a softmax)
                clip(arena, w.o(), sampled(arena, cap.att(), sO));
                Tensor xGateUp = sampled(arena, cap.xb2(), sGateUp);
                clip(arena, w.gate(), xGateUp);
                clip(arena, w.up(), xGateUp);
                clip(arena, w.down(), sampled(arena, cap.gated(), sDown));
            }
            for (int s = 0; s < n; s++) NnKernels.addInto(cap.mlpOut()[s], hidden[s]); // the fp block's output
        }
        return chosen.toString().trim();
    }

    /** Runs the fp block on every sequence, keeping each part's input and output; hidden becomes the residual after attention. */
    private static Captured capture(Arena arena, LlamaConfig c, LlamaWeights.Layer b, Tensor[] hidden, BlockForward f) {
        int n = hidden.length, seqLen = (int) hidden[0].dim(0);
        Captured cap =
                new Captured(new Tensor[n], new Tensor[n], new Tensor[n], new Tensor[n], new Tensor[n], new Tensor[n]);
        Tensor inv = Tensor.allocate(arena, DType.F32, seqLen),
                mid = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
        var w = b.linears();
        for (int s = 0; s < n; s++) {
            cap.xb1()[s] = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            cap.att()[s] = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            cap.xb2()[s] = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            cap.gated()[s] = Tensor.allocate(arena, DType.F32, seqLen, c.hiddenDim());
            cap.attnOut()[s] = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            cap.mlpOut()[s] = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            NnKernels.rmsNorm(hidden[s], b.attentionNorm(), c.normEps(), cap.xb1()[s], inv);
            f.attention(cap.xb1()[s], w.q(), w.k(), w.v(), w.o(), cap.att()[s], cap.attnOut()[s]);
            mid.copyFrom(hidden[s]);
            NnKernels.addInto(cap.attnOut()[s], mid);
            NnKernels.rmsNorm(mid, b.ffnNorm(), c.normEps(), cap.xb2()[s], inv);
            f.mlp(cap.xb2()[s], w.gate(), w.up(), w.down(), cap.gated()[s], cap.mlpOut()[s]);
            hidden[s].copyFrom(mid); // the block output is mid + mlpOut, formed once the search is done
        }
        return cap;
    }

    /** The best scale for linears reading inputs, by the loss of module against targets over α's grid. */
    private float[] search(
            String site, List<Tensor> linears, Tensor[] inputs, Tensor[] targets, Module module, StringBuilder chosen) {
        int in = (int) linears.getFirst().dim(1);
        double[] xMean = meanAbs(inputs, in),
                wMean = relativeWeightMean(linears, cfg.spec().groupSizeFor(in));
        float[] best = null;
        double bestLoss = Double.POSITIVE_INFINITY, bestRatio = -1;
        for (int i = 0; i < cfg.grid(); i++) {
            double ratio = (double) i / cfg.grid();
            float[] s = scales(xMean, wMean, ratio);
            double loss = 0;
            try (Arena arena = Arena.ofConfined()) {
                List<Tensor> candidate = linears.stream()
                        .map(w -> roundedThroughScale(arena, w, s))
                        .toList();
                Tensor out = Tensor.allocate(arena, DType.F32, targets[0].shape());
                for (int t = 0; t < inputs.length; t++) {
                    module.forward(t, candidate, out);
                    float[] a = out.toFloatArray(), b = targets[t].toFloatArray();
                    for (int j = 0; j < a.length; j++) loss += (double) (a[j] - b[j]) * (a[j] - b[j]);
                }
            }
            if (loss < bestLoss) {
                bestLoss = loss;
                best = s;
                bestRatio = ratio;
            }
        }
        if (best == null)
            throw new LowbitException("AWQ found no finite loss at " + site + " (non-finite activations?)");
        chosen.append(String.format(" %s %.2f", site, bestRatio));
        return best;
    }

    /** s_c = mean|x_c|^α (/ (w_mean_c^(1-α) + 1e-4) with duo scaling), at least 1e-4, divided by sqrt(max s · min s). */
    float[] scales(double[] xMean, double[] wMean, double ratio) {
        int n = xMean.length;
        double[] s = new double[n];
        double max = 0, min = Double.POSITIVE_INFINITY;
        for (int c = 0; c < n; c++) {
            double v = Math.pow(xMean[c], ratio);
            if (cfg.duoScaling()) v /= Math.pow(wMean[c], 1 - ratio) + 1e-4;
            s[c] = Math.max(v, 1e-4);
            max = Math.max(max, s[c]);
            min = Math.min(min, s[c]);
        }
        double norm = Math.sqrt(max * min);
        float[] out = new float[n];
        for (int c = 0; c < n; c++) out[c] = (float) (s[c] / norm);
        return out;
    }

    /** mean over tokens of |x_c|. */
    static double[] meanAbs(Tensor[] inputs, int channels) {
        double[] m = new double[channels];
        long tokens = 0;
        for (Tensor x : inputs) {
            float[] v = x.toFloatArray();
            for (int i = 0; i < v.length; i++) m[i % channels] += Math.abs(v[i]);
            tokens += v.length / channels;
        }
        for (int c = 0; c < channels; c++) m[c] /= tokens;
        return m;
    }

    /** Per input channel, the mean over the linears' rows of |w| / (max |w| of its group + 1e-6). */
    static double[] relativeWeightMean(List<Tensor> linears, int group) {
        int in = (int) linears.getFirst().dim(1);
        double[] m = new double[in];
        long rows = 0;
        for (Tensor t : linears) {
            float[] w = t.toFloatArray();
            int n = w.length / in;
            for (int r = 0; r < n; r++)
                for (int g = 0; g < in; g += group) {
                    float max = 0;
                    for (int j = g; j < g + group; j++) max = Math.max(max, Math.abs(w[r * in + j]));
                    for (int j = g; j < g + group; j++) m[j] += Math.abs(w[r * in + j]) / (max + 1e-6);
                }
            rows += n;
        }
        for (int c = 0; c < in; c++) m[c] /= rows;
        return m;
    }

    /** Q(W · s) / s: the weights as the model computes with them once scaled and rounded. */
    private Tensor roundedThroughScale(Arena arena, Tensor w, float[] s) {
        Tensor scaled = Tensor.allocate(arena, DType.F32, w.shape());
        scaled.copyFrom(w);
        scaleColumns(scaled, s);
        Tensor q = Kernels.dequantize(arena, Kernels.quantize(arena, scaled, cfg.spec()));
        float[] inv = new float[s.length];
        for (int c = 0; c < s.length; c++) inv[c] = 1f / s[c];
        scaleColumns(q, inv);
        return q;
    }

    /** Every step-th token of the inputs (AutoAWQ's subsample, at most clipTokens), divided by s when given. */
    private Tensor sampled(Arena arena, Tensor[] inputs, float[] s) {
        int channels = (int) inputs[0].dim(1), perSeq = (int) inputs[0].dim(0);
        long total = (long) perSeq * inputs.length;
        int step = (int) Math.max(1, total / cfg.clipTokens());
        int count = (int) ((total + step - 1) / step);
        float[] x = new float[count * channels];
        for (int i = 0; i < count; i++) {
            long t = (long) i * step;
            MemorySegment row = inputs[(int) (t / perSeq)].rows(t % perSeq, 1).segment();
            for (int c = 0; c < channels; c++) x[i * channels + c] = row.getAtIndex(F32, c) / (s != null ? s[c] : 1f);
        }
        return Tensor.of(arena, x, count, channels);
    }

    /**
     * AutoAWQ's clipping search: per output row and group, the range ±max|w|·(1 - i/clipGrid), i <
     * maxShrink·clipGrid, whose rounded group best keeps the group's share of the outputs on x
     * (least mean squared error); w is clipped to it in place.
     */
    private void clip(Arena arena, Tensor w, Tensor x) {
        int rows = (int) w.dim(0), in = (int) w.dim(1), gs = cfg.spec().groupSizeFor(in), groups = in / gs;
        int tokens = (int) x.dim(0);
        float[] w0 = w.toFloatArray(), xs = x.toFloatArray();
        float[] orgMax = new float[rows * groups], best = new float[rows * groups];
        double[] bestErr = new double[rows * groups];
        Arrays.fill(bestErr, Double.POSITIVE_INFINITY);
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++)
                for (int j = g * gs; j < (g + 1) * gs; j++)
                    orgMax[r * groups + g] = Math.max(orgMax[r * groups + g], Math.abs(w0[r * in + j]));
        Tensor[] xg = new Tensor[groups];
        for (int g = 0; g < groups; g++) {
            float[] part = new float[tokens * gs];
            for (int t = 0; t < tokens; t++) System.arraycopy(xs, t * in + g * gs, part, t * gs, gs);
            xg[g] = Tensor.of(arena, part, tokens, gs);
        }
        int steps = (int) (cfg.maxShrink() * cfg.clipGrid());
        for (int i = 0; i < Math.max(1, steps); i++) {
            float shrink = 1f - (float) i / cfg.clipGrid();
            try (Arena step = Arena.ofConfined()) {
                float[] clipped = new float[w0.length];
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < in; j++) {
                        float m = orgMax[r * groups + j / gs] * shrink;
                        clipped[r * in + j] = Math.max(-m, Math.min(m, w0[r * in + j]));
                    }
                float[] q = Kernels.dequantize(
                                step, Kernels.quantize(step, Tensor.of(step, clipped, rows, in), cfg.spec()))
                        .toFloatArray();
                Tensor out = Tensor.allocate(step, DType.F32, tokens, rows);
                for (int g = 0; g < groups; g++) {
                    float[] d = new float[rows * gs];
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < gs; j++) d[r * gs + j] = q[r * in + g * gs + j] - w0[r * in + g * gs + j];
                    Kernels.matmul(xg[g], Tensor.of(step, d, rows, gs).transpose(), out, 1f, 0f);
                    float[] e = out.toFloatArray();
                    for (int r = 0; r < rows; r++) {
                        double err = 0;
                        for (int t = 0; t < tokens; t++) err += (double) e[t * rows + r] * e[t * rows + r];
                        int at = r * groups + g;
                        if (err < bestErr[at]) {
                            bestErr[at] = err;
                            best[at] = orgMax[at] * shrink;
                        }
                    }
                }
            }
        }
        MemorySegment m = w.segment();
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < in; j++) {
                float b = best[r * groups + j / gs];
                m.setAtIndex(F32, (long) r * in + j, Math.max(-b, Math.min(b, w0[r * in + j])));
            }
    }

    private static void divide(Tensor t, float[] s) {
        MemorySegment m = t.segment();
        for (int i = 0; i < s.length; i++) m.setAtIndex(F32, i, m.getAtIndex(F32, i) / s[i]);
    }

    private static void scaleColumns(Tensor w, float[] s) {
        MemorySegment m = w.segment();
        for (long i = 0; i < w.numel(); i++) m.setAtIndex(F32, i, m.getAtIndex(F32, i) * s[(int) (i % s.length)]);
    }

    private static void divideRows(Tensor w, float[] s) {
        MemorySegment m = w.segment();
        long cols = w.dim(1);
        for (long i = 0; i < w.numel(); i++) m.setAtIndex(F32, i, m.getAtIndex(F32, i) / s[(int) (i / cols)]);
    }
}
