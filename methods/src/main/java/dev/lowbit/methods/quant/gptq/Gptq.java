package dev.lowbit.methods.quant.gptq;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.BlockPass;
import dev.lowbit.runtime.train.TrainLinear;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * GPTQ over a whole model, block by block as AutoGPTQ runs it: the calibration sequences' hidden
 * states enter block 0 from the embedding; in each block the linears are quantized in AutoGPTQ's
 * true-sequential order (q/k/v, o, gate/up, down), each step's Hessians collected from a forward
 * pass in which the earlier steps' linears are already quantized; the quantized block's outputs
 * are the next block's inputs. {@link #quantizeBlock} is the per-block entry point.
 */
public final class Gptq {
    /** AutoGPTQ's sequential groups of a LLaMA block; the linears of a group read one input. */
    static final List<List<Projection>> STEPS = List.of(
            List.of(Projection.Q, Projection.K, Projection.V),
            List.of(Projection.O),
            List.of(Projection.GATE, Projection.UP),
            List.of(Projection.DOWN));

    private final GptqConfig cfg;
    private final int activationBits;
    private final PrintStream log;

    /** activationBits: 16 for weight-only layers, else per-token activations as RTN quantizes them. */
    public Gptq(GptqConfig cfg, int activationBits, PrintStream log) {
        this.cfg = cfg;
        this.activationBits = activationBits;
        this.log = log;
    }

    /** The quantized model, calibrated on sequences of equal length (token ids). */
    public LlamaModel quantize(Arena arena, LlamaWeights fp, int[][] calibration) {
        return quantize(arena, fp, calibration, 16);
    }

    /** As {@link #quantize(Arena, LlamaWeights, int[][])}, with the attention's queries, keys and values at qkvBits. */
    public LlamaModel quantize(Arena arena, LlamaWeights fp, int[][] calibration, int qkvBits) {
        return quantize(arena, fp, calibration, qkvBits, null, Integer.MAX_VALUE)
                .orElseThrow();
    }

    /**
     * As {@link #quantize(Arena, LlamaWeights, int[][], int)}, resuming from checkpoint as {@link
     * #layers(LlamaWeights, int[][], Path, int)} does.
     */
    public Optional<LlamaModel> quantize(
            Arena arena, LlamaWeights fp, int[][] calibration, int qkvBits, Path checkpoint, int stopAfter) {
        return layers(fp, calibration, checkpoint, stopAfter).map(layers -> {
            List<Projections<Linear>> linears = new ArrayList<>();
            for (Map<Projection, GptqLayer> block : layers)
                linears.add(Projections.of(p -> block.get(p).toLinear(arena, activationBits)));
            return new LlamaModel(fp, (layer, p, w) -> linears.get(layer).get(p), qkvBits);
        });
    }

    /** GPTQ's result for every block linear, block by block. */
    public List<Map<Projection, GptqLayer>> layers(LlamaWeights fp, int[][] calibration) {
        return layers(fp, calibration, null, Integer.MAX_VALUE).orElseThrow();
    }

    /**
     * As {@link #layers(LlamaWeights, int[][])}, resuming from checkpoint when it holds a run with
     * the same settings and calibration, and writing it after every block but the last (null:
     * none). Empty when the run stopped after block stopAfter - 1, to be resumed.
     */
    public Optional<List<Map<Projection, GptqLayer>>> layers(
            LlamaWeights fp, int[][] calibration, Path checkpoint, int stopAfter) {
        if (calibration.length == 0) throw new LowbitException("GPTQ needs at least one calibration sequence");
        int seqLen = calibration[0].length;
        LlamaConfig c = fp.config();
        log.printf(
                "GPTQ: %d calibration sequences of %d tokens, dampening %s of the mean diagonal%s%n",
                calibration.length, seqLen, cfg.damp(), cfg.actOrder() ? ", activation order" : "");
        List<Map<Projection, GptqLayer>> layers = new ArrayList<>();
        try (Arena work = Arena.ofConfined()) {
            Tensor[] hidden = new Tensor[calibration.length];
            for (int s = 0; s < calibration.length; s++) {
                if (calibration[s].length != seqLen)
                    throw new LowbitException(
                            "calibration sequences of " + calibration[s].length + " and " + seqLen + " tokens");
                hidden[s] = Tensor.allocate(work, DType.F32, seqLen, c.dim());
                fp.embed(calibration[s], hidden[s]);
            }
            int start = 0;
            if (checkpoint != null && Files.isRegularFile(checkpoint)) {
                Map<Projection, long[]> shapes = new EnumMap<>(Projection.class);
                for (Projection p : Projection.values())
                    shapes.put(p, fp.layers().getFirst().linears().get(p).shape());
                start = GptqCheckpoint.restore(checkpoint, cfg, calibration, c.layers(), shapes, layers, hidden);
                log.printf("resuming GPTQ from %s at block %d%n", checkpoint, start);
            }
            for (int l = start; l < c.layers(); l++) {
                long t0 = System.nanoTime();
                Map<Projection, GptqLayer> done = quantizeBlock(c, fp.layers().get(l), hidden);
                layers.add(done);
                StringBuilder losses = new StringBuilder();
                for (Projection p : Projection.values())
                    losses.append(
                            String.format(" %s %.4g", p.hfName(), done.get(p).loss()));
                log.printf(
                        "GPTQ block %d/%d (%.1f s), loss per linear:%s%n",
                        l + 1, c.layers(), (System.nanoTime() - t0) / 1e9, losses);
                if (checkpoint == null || l + 1 == c.layers()) continue;
                GptqCheckpoint.save(checkpoint, cfg, calibration, layers, hidden);
                if (l + 1 >= stopAfter) {
                    log.printf("stopped after block %d; run again with the same arguments to resume%n", l);
                    return Optional.empty();
                }
            }
        }
        return Optional.of(layers);
    }

    /**
     * GPTQ of one block on the hidden states entering it (one [seqLen, dim] tensor per calibration
     * sequence), which are replaced by the quantized block's outputs.
     */
    public Map<Projection, GptqLayer> quantizeBlock(LlamaConfig c, LlamaWeights.Layer block, Tensor[] hidden) {
        int seqLen = (int) hidden[0].dim(0);
        Map<Projection, GptqLayer> done = new EnumMap<>(Projection.class);
        try (Arena arena = Arena.ofConfined()) {
            Projections<Tensor> weights = block.linears().map(w -> {
                Tensor t = Tensor.allocate(arena, DType.F32, w.shape());
                t.copyFrom(w);
                return t; // replaced by its dequantized GPTQ weights once quantized
            });
            BlockPass.Scratch scratch = new BlockPass.Scratch(arena, c, seqLen);
            Tensor out = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
            for (List<Projection> step : STEPS) {
                Projection reader = step.getFirst();
                Hessian h = new Hessian(arena, (int) weights.get(reader).dim(1));
                Projections<TrainLinear> linears = weights.map((p, w) -> {
                    TrainLinear dense = new TrainLinear.Dense(w, null);
                    return p == reader ? new Observed(dense, h) : dense;
                });
                BlockPass pass = new BlockPass(
                        arena, c, 1, seqLen, block.attentionNorm(), block.ffnNorm(), null, null, linears, 16, scratch);
                for (Tensor x : hidden) pass.forward(x, out);
                try (Arena hessian = Arena.ofConfined()) {
                    var matrix = h.matrix(hessian);
                    for (Projection p : step) {
                        GptqLayer q = GptqQuantizer.quantize(weights.get(p), matrix, cfg);
                        done.put(p, q);
                        weights.get(p)
                                .copyFrom(Tensor.of(
                                        hessian, q.dequantized(), weights.get(p).shape()));
                    }
                }
            }
            BlockPass quantized = new BlockPass(
                    arena,
                    c,
                    1,
                    seqLen,
                    block.attentionNorm(),
                    block.ffnNorm(),
                    null,
                    null,
                    weights.map(w -> (TrainLinear) new TrainLinear.Dense(w, null)),
                    16,
                    scratch);
            for (Tensor x : hidden) {
                quantized.forward(x, out);
                x.copyFrom(out);
            }
        }
        return done;
    }

    /** A linear that also adds its inputs to a Hessian. */
    private record Observed(TrainLinear inner, Hessian hessian) implements TrainLinear {
        @Override
        public void forward(Tensor x, Tensor y) {
            hessian.add(x);
            inner.forward(x, y);
        }

        @Override
        public void backward(Tensor x, Tensor dy, Tensor dx, float beta) {
            throw new UnsupportedOperationException("GPTQ calibration runs forward only");
        }
    }
}
