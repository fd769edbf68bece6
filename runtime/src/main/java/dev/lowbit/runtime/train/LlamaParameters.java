package dev.lowbit.runtime.train;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;

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
        for (Slot s : slots)
            tensors.put(s.name(), Tensor.wrap(flat.segment().asSlice(s.offset() * 4, s.numel() * 4), DType.F32, s.shape()));
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            String p = "model.layers." + l + ".";
            layers.add(new LlamaWeights.Layer(get(p + "input_layernorm.weight"), get(p + "self_attn.q_proj.weight"),
                    get(p + "self_attn.k_proj.weight"), get(p + "self_attn.v_proj.weight"), get(p + "self_attn.o_proj.weight"),
                    get(p + "post_attention_layernorm.weight"), get(p + "mlp.gate_proj.weight"), get(p + "mlp.down_proj.weight"),
                    get(p + "mlp.up_proj.weight")));
        }
        Tensor emb = get("model.embed_tokens.weight");
        this.weights = new LlamaWeights(config, emb, List.copyOf(layers), get("model.norm.weight"),
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
            double std = s.name().endsWith("o_proj.weight") || s.name().endsWith("down_proj.weight") ? residualStd : 0.02;
            for (long i = 0; i < s.numel(); i++)
                seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, norm ? 1f : (float) (gaussian(rnd) * std));
        }
        return p;
    }

    /** A writable copy of existing weights (e.g. a loaded checkpoint) in this layout. */
    public static LlamaParameters copyOf(Arena arena, LlamaWeights w) {
        LlamaParameters p = zeros(arena, w.config());
        LlamaWeights dst = p.weights;
        copy(w.tokenEmbedding(), dst.tokenEmbedding());
        copy(w.finalNorm(), dst.finalNorm());
        if (!w.config().tiedEmbeddings()) copy(w.output(), dst.output());
        for (int l = 0; l < w.layers().size(); l++) {
            LlamaWeights.Layer a = w.layers().get(l), b = dst.layers().get(l);
            copy(a.attentionNorm(), b.attentionNorm());
            copy(a.wq(), b.wq());
            copy(a.wk(), b.wk());
            copy(a.wv(), b.wv());
            copy(a.wo(), b.wo());
            copy(a.ffnNorm(), b.ffnNorm());
            copy(a.w1(), b.w1());
            copy(a.w2(), b.w2());
            copy(a.w3(), b.w3());
        }
        return p;
    }

    private static void copy(Tensor from, Tensor to) {
        MemorySegment.copy(from.segment(), 0, to.segment(), 0, to.numel() * 4);
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }

    static List<Slot> layout(LlamaConfig c) {
        List<Slot> slots = new ArrayList<>();
        long[] off = {0};
        java.util.function.BiConsumer<String, long[]> add = (name, shape) -> {
            Slot s = new Slot(name, off[0], shape, shape.length == 2);
            slots.add(s);
            off[0] += s.numel();
        };
        add.accept("model.embed_tokens.weight", new long[] {c.vocabSize(), c.dim()});
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            add.accept(p + "input_layernorm.weight", new long[] {c.dim()});
            add.accept(p + "self_attn.q_proj.weight", new long[] {c.dim(), c.dim()});
            add.accept(p + "self_attn.k_proj.weight", new long[] {c.kvDim(), c.dim()});
            add.accept(p + "self_attn.v_proj.weight", new long[] {c.kvDim(), c.dim()});
            add.accept(p + "self_attn.o_proj.weight", new long[] {c.dim(), c.dim()});
            add.accept(p + "post_attention_layernorm.weight", new long[] {c.dim()});
            add.accept(p + "mlp.gate_proj.weight", new long[] {c.hiddenDim(), c.dim()});
            add.accept(p + "mlp.down_proj.weight", new long[] {c.dim(), c.hiddenDim()});
            add.accept(p + "mlp.up_proj.weight", new long[] {c.hiddenDim(), c.dim()});
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
        return java.util.Collections.unmodifiableMap(tensors);
    }

    public LlamaWeights weights() {
        return weights;
    }
}
