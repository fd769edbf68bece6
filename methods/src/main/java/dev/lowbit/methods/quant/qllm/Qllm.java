package dev.lowbit.methods.quant.qllm;

import static dev.lowbit.runtime.model.Projection.DOWN;
import static dev.lowbit.runtime.model.Projection.GATE;
import static dev.lowbit.runtime.model.Projection.K;
import static dev.lowbit.runtime.model.Projection.O;
import static dev.lowbit.runtime.model.Projection.Q;
import static dev.lowbit.runtime.model.Projection.UP;
import static dev.lowbit.runtime.model.Projection.V;

import dev.lowbit.methods.quant.BlockWeights;
import dev.lowbit.methods.quant.qllm.ChannelReassembly.Plan;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.ActivationSite;
import dev.lowbit.runtime.train.AdamW;
import dev.lowbit.runtime.train.BlockPass;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * QLLM post-training quantization, block by block over calibration sequences: for each round of
 * blocksPerRound blocks, (1) channel reassembly at each block's three sites with the threshold that
 * minimises the quantized layers' output error, (2) the weight and activation quantizers in place,
 * (3) low-rank error correction of the round against the full-precision blocks' outputs, (4) the
 * corrections merged into the weights, Q(W + BA); the next round's inputs are the merged round's
 * outputs. Embedding, final norm and head stay as stored.
 *
 * <p>The weights stream: a round widens only its own blocks from the stored (mapped, bf16/fp16/fp32)
 * checkpoint into fp32 (see BlockWeights) and drops them when it ends, so memory holds one round's
 * blocks, the calibration hidden states and the quantized layers, whatever the model's size.
 */
public final class Qllm {
    private static final ActivationSite[] SITES = ActivationSite.values();
    /** The order of the LoRA factors in a round's flat buffer (kept as it was, so that results stay bit-identical). */
    private static final List<Projection> BUFFER_ORDER = List.of(Q, K, V, O, GATE, DOWN, UP);

    private final LlamaWeights fp;
    private final boolean hfRotaryOrder;
    private final QllmConfig cfg;
    private final LlamaConfig c;
    private final PrintStream progress;
    /** Per layer and site, the channels disassembly added (0 without reassembly). */
    private final int[][] added;

    private long trainable;
    /** Seconds this run spent in the threshold search, the error correction and all else (forward passes, merging). */
    private double searchSeconds, correctionSeconds, otherSeconds;

    /** fp: the full-precision weights in lowbit's row order, in any stored dtype. */
    public Qllm(LlamaWeights fp, QllmConfig cfg, PrintStream progress) {
        this(fp, false, cfg, progress);
    }

    /**
     * stored: the full-precision weights as a checkpoint stores them (ModelFiles.openStored); hfRotaryOrder:
     * q_proj and k_proj are in Hugging Face's row order there.
     */
    public Qllm(LlamaWeights stored, boolean hfRotaryOrder, QllmConfig cfg, PrintStream progress) {
        this.fp = stored;
        this.hfRotaryOrder = hfRotaryOrder;
        this.cfg = cfg;
        this.c = fp.config();
        this.progress = progress;
        this.added = new int[c.layers()][SITES.length];
        if (cfg.seqLen() > c.maxSeqLen())
            throw new LowbitException(
                    "calibration sequences of " + cfg.seqLen() + " tokens exceed the context " + c.maxSeqLen());
    }

    /** Quantizes the model over calibration sequences [samples][seqLen]; tensors of the result live in arena. */
    public LlamaModel quantize(Arena arena, int[][] calibration) {
        return quantize(arena, calibration, null, Integer.MAX_VALUE).orElseThrow();
    }

    /**
     * As {@link #quantize(Arena, int[][])}, resuming from checkpoint when it holds a run with the
     * same settings and calibration, and writing it after every round but the last (null: none).
     * Empty when the run stopped after the round that finished block stopAfter - 1, to be resumed.
     */
    public Optional<LlamaModel> quantize(Arena arena, int[][] calibration, Path checkpoint, int stopAfter) {
        if (calibration.length != cfg.samples())
            throw new LowbitException(
                    "expected " + cfg.samples() + " calibration sequences, got " + calibration.length);
        int rows = cfg.samples() * cfg.seqLen();
        LlamaWeights model = trainedNorms(arena);
        List<Projections<Linear>> linears = new ArrayList<>(Collections.nCopies(c.layers(), null));
        try (Arena work = Arena.ofConfined()) {
            Tensor xq = embed(work, calibration, rows), xfp = Tensor.allocate(work, DType.F32, rows, c.dim());
            xfp.copyFrom(xq);
            int start = 0;
            if (checkpoint != null && Files.isRegularFile(checkpoint)) {
                QllmCheckpoint.Position at =
                        QllmCheckpoint.restore(checkpoint, cfg, calibration, arena, model, linears, xq, xfp, added);
                start = at.nextBlock();
                trainable = at.trainable();
                progress.printf("resuming QLLM from %s at block %d%n", checkpoint, start);
            }
            BlockPass.Scratch scratch = new BlockPass.Scratch(work, c, cfg.batch() * cfg.seqLen());
            for (int r0 = start; r0 < c.layers(); r0 += cfg.blocksPerRound()) {
                int r1 = Math.min(c.layers(), r0 + cfg.blocksPerRound());
                long t0 = System.nanoTime();
                double search = searchSeconds, correction = correctionSeconds;
                try (Arena round = Arena.ofConfined()) {
                    runRound(arena, round, model, scratch, r0, r1, xq, xfp, linears);
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                otherSeconds += seconds - (searchSeconds - search) - (correctionSeconds - correction);
                progress.printf(
                        "blocks %d-%d done in %.1f s (%.1f s per block: search %.1f, error correction %.1f)%n",
                        r0,
                        r1 - 1,
                        seconds,
                        seconds / (r1 - r0),
                        searchSeconds - search,
                        correctionSeconds - correction);
                if (r1 == c.layers() || checkpoint == null) continue;
                QllmCheckpoint.save(
                        checkpoint,
                        cfg,
                        calibration,
                        new QllmCheckpoint.Position(r1, trainable),
                        model,
                        linears,
                        xq,
                        xfp,
                        added);
                if (r1 >= stopAfter) {
                    progress.printf("stopped after block %d; run again with the same arguments to resume%n", r1 - 1);
                    return Optional.empty();
                }
            }
        }
        return Optional.of(
                new LlamaModel(model, (layer, p, w) -> linears.get(layer).get(p), cfg.qkvBits()));
    }

    /**
     * The result's weights: embedding, final norm and head as stored, per block writable fp32 norms
     * (error correction trains them) and the stored linears (only their shapes are read: the result's
     * linears are the quantized ones).
     */
    private LlamaWeights trainedNorms(Arena arena) {
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer p : fp.layers())
            layers.add(new LlamaWeights.Layer(
                    Kernels.widened(arena, p.attentionNorm()), Kernels.widened(arena, p.ffnNorm()), p.linears()));
        return new LlamaWeights(c, fp.tokenEmbedding(), List.copyOf(layers), fp.finalNorm(), fp.output());
    }

    /** Channels the reassembly added per layer and site ({@link ActivationSite#ordinal}), over the site's width. */
    public double[][] expansionRatios() {
        double[][] r = new double[c.layers()][SITES.length];
        for (int l = 0; l < c.layers(); l++)
            for (ActivationSite s : SITES) r[l][s.ordinal()] = (double) added[l][s.ordinal()] / s.width(c);
        return r;
    }

    /** Seconds spent in the threshold search, the error correction and all else, over the rounds this run did. */
    public double[] phaseSeconds() {
        return new double[] {searchSeconds, correctionSeconds, otherSeconds};
    }

    /** Trainable parameters of the error correction over all parameters of the model. */
    public double trainableFraction() {
        return (double) trainable / c.parameterCount();
    }

    private void runRound(
            Arena arena,
            Arena round,
            LlamaWeights model,
            BlockPass.Scratch scratch,
            int r0,
            int r1,
            Tensor xq,
            Tensor xfp,
            List<Projections<Linear>> linears) {
        int blocks = r1 - r0;
        Tensor roundIn = Tensor.allocate(round, DType.F32, xq.shape());
        roundIn.copyFrom(xq);
        LlamaWeights.Layer[] fpLayers = new LlamaWeights.Layer[blocks]; // this round's fp32 weights
        for (int i = 0; i < blocks; i++) {
            fpLayers[i] = BlockWeights.widened(round, fp, hfRotaryOrder, r0 + i);
            propagate(fpBlock(round, fpLayers[i], scratch), xfp); // xfp: the fp round's outputs, the targets
        }
        RoundParameters params = new RoundParameters(round, blocks);
        List<Projections<LoraQuantLinear>> lin = new ArrayList<>();
        BlockPass[] passes = new BlockPass[blocks];
        for (int i = 0; i < blocks; i++) {
            int l = r0 + i;
            long t0 = System.nanoTime();
            Map<ActivationSite, Plan> plans = plans(arena, round, l, fpLayers[i], scratch, xq);
            searchSeconds += (System.nanoTime() - t0) / 1e9;
            lin.add(params.linears(round, arena, i, fpLayers[i], plans));
            LlamaWeights.Layer p = model.layers().get(l);
            params.initNorms(i, p.attentionNorm(), p.ffnNorm());
            passes[i] = new BlockPass(
                    round,
                    c,
                    cfg.batch(),
                    cfg.seqLen(),
                    params.attentionNorm(i),
                    params.ffnNorm(i),
                    cfg.trainNorms() ? params.attentionNormGrad(i) : null,
                    cfg.trainNorms() ? params.ffnNormGrad(i) : null,
                    lin.get(i),
                    cfg.qkvBits(),
                    scratch);
            propagate(passes[i], xq);
        }
        trainable += params.trainableCount(cfg.trainNorms());
        long t0 = System.nanoTime();
        if (cfg.errorCorrection() && cfg.steps() > 0)
            new ErrorCorrection(round, passes, c.dim(), params, cfg, progress).train(roundIn, xfp, r0, r1);
        correctionSeconds += (System.nanoTime() - t0) / 1e9;
        for (int i = 0; i < blocks; i++) {
            for (LoraQuantLinear q : lin.get(i).toList()) q.merge();
            LlamaWeights.Layer p = model.layers().get(r0 + i);
            p.attentionNorm().copyFrom(params.attentionNorm(i));
            p.ffnNorm().copyFrom(params.ffnNorm(i));
            linears.set(r0 + i, lin.get(i).map(q -> q.export(arena)));
        }
        xq.copyFrom(roundIn);
        for (BlockPass b : passes) propagate(b, xq); // the merged round's outputs: the next round's inputs
    }

    /**
     * The reassembly plan per site of layer l (none: null), searched on the fp block's (weights fpLayer) activations for
     * the quantized model's inputs x.
     */
    private Map<ActivationSite, Plan> plans(
            Arena arena, Arena round, int l, LlamaWeights.Layer fpLayer, BlockPass.Scratch scratch, Tensor x) {
        Map<ActivationSite, Plan> plans = new EnumMap<>(ActivationSite.class);
        if (!cfg.reassembly() || cfg.abits() == 16) return plans;
        BlockPass block = fpBlock(round, fpLayer, scratch);
        int chunkRows = cfg.batch() * cfg.seqLen(),
                chunks = Math.max(1, Math.min(cfg.samples() / cfg.batch(), cfg.searchTokens() / chunkRows));
        Map<ActivationSite, float[][]> siteTokens = new EnumMap<>(ActivationSite.class);
        for (ActivationSite s : SITES) siteTokens.put(s, new float[chunks * chunkRows][]);
        Tensor out = Tensor.allocate(round, DType.F32, chunkRows, c.dim());
        for (int k = 0; k < chunks; k++) {
            block.forward(x.rows((long) k * chunkRows, chunkRows), out);
            for (ActivationSite s : SITES) {
                Tensor input = block.input(s);
                float[] flat = input.toFloatArray();
                int width = (int) input.dim(1);
                float[][] tokens = siteTokens.get(s);
                for (int t = 0; t < chunkRows; t++)
                    tokens[k * chunkRows + t] = Arrays.copyOfRange(flat, t * width, (t + 1) * width);
            }
        }
        Projections<Tensor> ws = fpLayer.linears();
        StringBuilder report = new StringBuilder();
        for (ActivationSite s : SITES) {
            SiteSearch search = new SiteSearch(
                    round, siteTokens.get(s), s.readers().stream().map(ws::get).toList(), cfg);
            Plan plan = search.best();
            plans.put(s, plan);
            added[l][s.ordinal()] = plan.split();
            report.append(String.format(
                    "  %s theta %.3g (+%d channels, error %.4g -> %.4g)",
                    s.label(), plan.theta(), plan.split(), search.identityError(), search.bestError()));
        }
        progress.printf("block %d reassembly:%s%n", l, report);
        return plans;
    }

    /** The full-precision block with frozen dense weights. */
    private BlockPass fpBlock(Arena arena, LlamaWeights.Layer fpLayer, BlockPass.Scratch scratch) {
        return BlockPass.frozen(arena, c, cfg.batch(), cfg.seqLen(), fpLayer, scratch);
    }

    /** x <- block(x), batch by batch. */
    private void propagate(BlockPass block, Tensor x) {
        int chunkRows = cfg.batch() * cfg.seqLen();
        try (Arena tmp = Arena.ofConfined()) {
            Tensor out = Tensor.allocate(tmp, DType.F32, chunkRows, c.dim());
            for (long r = 0; r < x.dim(0); r += chunkRows) {
                Tensor in = x.rows(r, chunkRows);
                block.forward(in, out);
                in.copyFrom(out);
            }
        }
    }

    private Tensor embed(Arena arena, int[][] calibration, int rows) {
        Tensor x = Tensor.allocate(arena, DType.F32, rows, c.dim());
        for (int i = 0; i < calibration.length; i++) {
            if (calibration[i].length != cfg.seqLen())
                throw new LowbitException(
                        "a calibration sequence has " + calibration[i].length + " tokens, expected " + cfg.seqLen());
            fp.embed(calibration[i], x.rows((long) i * cfg.seqLen(), cfg.seqLen()));
        }
        return x;
    }

    /** The LoRA factors (and norm copies) of one round in one flat buffer, as AdamW takes them. */
    final class RoundParameters {
        final Tensor values, grads;
        final List<LlamaParameters.Slot> slots = new ArrayList<>();
        private final long[][] offsets; // [block][linear] offset of A, then B
        private final long normOffset;
        private final SplittableRandom rnd;

        RoundParameters(Arena arena, int blocks) {
            offsets = new long[blocks][BUFFER_ORDER.size()];
            long at = 0;
            Projections<long[]> shapes = shapes();
            for (int i = 0; i < blocks; i++)
                for (int j = 0; j < BUFFER_ORDER.size(); j++) {
                    offsets[i][j] = at;
                    long[] shape = shapes.get(BUFFER_ORDER.get(j));
                    long n = cfg.rank() * (shape[0] + shape[1]);
                    slots.add(new LlamaParameters.Slot(
                            "lora." + i + "." + BUFFER_ORDER.get(j).hfName(), at, new long[] {n}, false));
                    at += n;
                }
            normOffset = at;
            slots.add(new LlamaParameters.Slot("norms", at, new long[] {2L * blocks * c.dim()}, false));
            at += 2L * blocks * c.dim();
            values = Tensor.allocate(arena, DType.F32, at);
            grads = Tensor.allocate(arena, DType.F32, at);
            rnd = new SplittableRandom(cfg.seed() + 7919L * blocks);
        }

        /** [out, in] per linear; reassembly keeps each site's width (assembly merges what disassembly adds). */
        private Projections<long[]> shapes() {
            long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
            return new Projections<>(
                    new long[] {d, d},
                    new long[] {kv, d},
                    new long[] {kv, d},
                    new long[] {d, d},
                    new long[] {h, d},
                    new long[] {h, d},
                    new long[] {d, h});
        }

        /** The block's LoRA linears, made site by site (q/k/v, gate/up, down), then o (the order the factors draw their random init). */
        Projections<LoraQuantLinear> linears(
                Arena round, Arena arena, int block, LlamaWeights.Layer fpLayer, Map<ActivationSite, Plan> plans) {
            Projections<Tensor> ws = fpLayer.linears();
            Map<Projection, LoraQuantLinear> out = new EnumMap<>(Projection.class);
            long rowsPerBatch = (long) cfg.batch() * cfg.seqLen();
            for (ActivationSite s : SITES) {
                Plan plan = plans.get(s);
                ChannelMap map = plan == null ? null : plan.toMap(arena);
                for (Projection j : s.readers())
                    out.put(j, linear(round, block, j, ws.get(j), plan, map, rowsPerBatch));
            }
            out.put(O, linear(round, block, O, ws.o(), null, null, rowsPerBatch));
            return Projections.of(out::get);
        }

        private LoraQuantLinear linear(
                Arena round, int block, Projection j, Tensor w, Plan plan, ChannelMap map, long rowsPerBatch) {
            Tensor relaid = w;
            if (plan != null) {
                if (plan.outChannels() != w.dim(1))
                    throw new LowbitException("reassembly changed the width of " + j.hfName() + " (" + w.dim(1) + " -> "
                            + plan.outChannels() + ")");
                relaid = Tensor.of(
                        round, plan.reassembleWeights(w.toFloatArray(), (int) w.dim(0)), w.dim(0), plan.outChannels());
            }
            long out = w.dim(0), in = relaid.dim(1), at = offsets[block][BUFFER_ORDER.indexOf(j)];
            Tensor a = values.slice(at, cfg.rank(), in), b = values.slice(at + cfg.rank() * in, out, cfg.rank());
            double bound = 1 / Math.sqrt(in); // A ~ U(-1/sqrt(in), 1/sqrt(in)) (Kaiming-uniform, a = sqrt 5), B = 0
            for (long i = 0; i < a.numel(); i++)
                a.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) ((rnd.nextDouble() * 2 - 1) * bound));
            Tensor ga = grads.slice(at, cfg.rank(), in), gb = grads.slice(at + cfg.rank() * in, out, cfg.rank());
            return new LoraQuantLinear(
                    round, map, relaid, a, b, ga, gb, cfg.loraScale(), cfg.weightSpec(), cfg.abits(), rowsPerBatch);
        }

        void initNorms(int block, Tensor attention, Tensor ffn) {
            attentionNorm(block).copyFrom(attention);
            ffnNorm(block).copyFrom(ffn);
        }

        Tensor attentionNorm(int block) {
            return values.slice(normOffset + 2L * block * c.dim(), c.dim());
        }

        Tensor ffnNorm(int block) {
            return values.slice(normOffset + (2L * block + 1) * c.dim(), c.dim());
        }

        Tensor attentionNormGrad(int block) {
            return grads.slice(normOffset + 2L * block * c.dim(), c.dim());
        }

        Tensor ffnNormGrad(int block) {
            return grads.slice(normOffset + (2L * block + 1) * c.dim(), c.dim());
        }

        long trainableCount(boolean norms) {
            return norms ? values.numel() : normOffset;
        }

        AdamW optimizer(Arena arena) {
            return new AdamW(
                    values,
                    slots,
                    Tensor.allocate(arena, DType.F32, values.numel()),
                    Tensor.allocate(arena, DType.F32, values.numel()),
                    0.9f,
                    0.999f,
                    1e-8f,
                    0f);
        }
    }
}
