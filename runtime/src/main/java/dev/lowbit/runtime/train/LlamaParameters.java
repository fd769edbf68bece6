package dev.lowbit.runtime.train;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;

/**
 * All weights of a LLaMA model in one flat fp32 buffer (as llm.c keeps them), with named tensor
 * views in Hugging Face's naming. The same layout holds gradients and optimizer moments, so the
 * optimizer and gradient clipping run over one contiguous segment.
 */
public final class LlamaParameters {
    /** A named view into the flat buffer; decay says whether AdamW's weight decay applies (matrices only). */
    public record Slot(String name, long offset, long[] shape, boolean decay) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private final LlamaConfig config;
    private final Tensor flat;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final List<Slot> slots;
    private final LlamaWeights weights;

    private LlamaParameters(LlamaConfig config, Tensor flat) {
        this.config = config;
        this.flat = flat;
        this.slots = layout(config);
        for (Slot s : slots) tensors.put(s.name(), flat.slice(s.offset(), s.shape()));
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            int layer = l;
            String p = "model.layers." + l + ".";
            layers.add(new LlamaWeights.Layer(
                    get(p + "input_layernorm.weight"),
                    get(p + "post_attention_layernorm.weight"),
                    Projections.of(j -> get(j.weightName(layer)))));
        }
        Tensor emb = get("model.embed_tokens.weight");
        this.weights = new LlamaWeights(
                config,
                emb,
                List.copyOf(layers),
                get("model.norm.weight"),
                config.tiedEmbeddings() ? emb : get("lm_head.weight"));
    }

    /** Zero-filled parameters (also the shape of gradients and optimizer moments). */
    public static LlamaParameters zeros(Arena arena, LlamaConfig config) {
        long total = 0;
        for (Slot s : layout(config)) total += s.numel();
        return new LlamaParameters(config, Tensor.allocate(arena, DType.F32, total));
    }

    /** GPT-2-style initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers), norms 1. */
    public static LlamaParameters initialize(Arena arena, LlamaConfig config, long seed) {
        LlamaParameters p = zeros(arena, config);
        SplittableRandom rnd = new SplittableRandom(seed);
        double residualStd = 0.02 / Math.sqrt(2.0 * config.layers());
        for (Slot s : p.slots) {
            MemorySegment seg = p.tensors.get(s.name()).segment();
            boolean norm = !s.decay();
            Projection linear = Projection.ofWeightName(s.name());
            double std = linear == Projection.O || linear == Projection.DOWN ? residualStd : 0.02;
            for (long i = 0; i < s.numel(); i++)
                seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, norm ? 1f : (float) (gaussian(rnd) * std));
        }
        return p;
    }

    /** A writable copy of existing weights (e.g. a loaded checkpoint) in this layout. */
    public static LlamaParameters copyOf(Arena arena, LlamaWeights w) {
        LlamaParameters p = zeros(arena, w.config());
        w.named().forEach((name, t) -> {
            Tensor to = p.get(name);
            if (t == null) return; // a quantized model's block linear: left zero
            if (t.dtype() == DType.F32) to.copyFrom(t);
            else Kernels.widen(t.onHost(arena), to); // half-precision weights as stored, widened exactly
        });
        return p;
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }

    /** The tensors of a model of config c in Hugging Face naming, in the flat buffer's order. */
    public static List<Slot> layout(LlamaConfig c) {
        List<Slot> slots = new ArrayList<>();
        long[] off = {0};
        BiConsumer<String, long[]> add = (name, shape) -> {
            Slot s = new Slot(name, off[0], shape, shape.length == 2);
            slots.add(s);
            off[0] += s.numel();
        };
        add.accept("model.embed_tokens.weight", new long[] {c.vocabSize(), c.dim()});
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            add.accept(p + "input_layernorm.weight", new long[] {c.dim()});
            add.accept(Projection.Q.weightName(l), new long[] {c.dim(), c.dim()});
            add.accept(Projection.K.weightName(l), new long[] {c.kvDim(), c.dim()});
            add.accept(Projection.V.weightName(l), new long[] {c.kvDim(), c.dim()});
            add.accept(Projection.O.weightName(l), new long[] {c.dim(), c.dim()});
            add.accept(p + "post_attention_layernorm.weight", new long[] {c.dim()});
            // gate, down, up: the slot order of existing optimizer states and initialisations
            add.accept(Projection.GATE.weightName(l), new long[] {c.hiddenDim(), c.dim()});
            add.accept(Projection.DOWN.weightName(l), new long[] {c.dim(), c.hiddenDim()});
            add.accept(Projection.UP.weightName(l), new long[] {c.hiddenDim(), c.dim()});
        }
        add.accept("model.norm.weight", new long[] {c.dim()});
        if (!c.tiedEmbeddings()) add.accept("lm_head.weight", new long[] {c.vocabSize(), c.dim()});
        return List.copyOf(slots);
    }

    public LlamaConfig config() {
        return config;
    }

    public Tensor flat() {
        return flat;
    }

    public List<Slot> slots() {
        return slots;
    }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("no parameter named " + name);
        return t;
    }

    public Map<String, Tensor> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    public LlamaWeights weights() {
        return weights;
    }
}
