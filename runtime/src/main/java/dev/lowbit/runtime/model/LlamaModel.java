package dev.lowbit.runtime.model;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * LLaMA inference over the kernel facade: token embedding, then per block RMSNorm -> q/k/v ->
 * RoPE -> causal grouped-query attention (with a KV cache) -> output projection, RMSNorm -> SwiGLU
 * MLP, each with a residual, then the final norm and the output head. The weights are shared and
 * never written, so one model serves many threads, each with its own {@link KvCache}.
 */
public final class LlamaModel {
    private final LlamaWeights weights;
    private final LlamaConfig config;
    private final List<Projections<Linear>> linears; // per layer
    private final int qkvBits;

    /** The full-precision model. */
    public LlamaModel(LlamaWeights weights) {
        this(weights, (layer, p, w) -> new Linear.Dense(w));
    }

    /** Builds each block linear with make (e.g. a quantized one); embedding, norms and head stay fp32. */
    public LlamaModel(LlamaWeights weights, LinearFactory make) {
        this(weights, make, 16);
    }

    /**
     * As {@link #LlamaModel(LlamaWeights, LinearFactory)}, with the rotated queries and keys and the
     * values fake-quantized per token and head to qkvBits (2..8; 16 leaves them fp32), as QLLM
     * quantizes the inputs of the attention products.
     */
    public LlamaModel(LlamaWeights weights, LinearFactory make, int qkvBits) {
        if (qkvBits != 16 && (qkvBits < 2 || qkvBits > 8))
            throw new LowbitException(qkvBits + "-bit queries/keys/values are not supported: use 2 to 8, or 16 for fp32");
        this.qkvBits = qkvBits;
        this.weights = weights;
        this.config = weights.config();
        List<Projections<Linear>> built = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            int layer = l;
            built.add(weights.layers().get(l).linears().map((p, w) -> make.create(layer, p, w)));
        }
        this.linears = List.copyOf(built);
    }

    /** Makes the linear layer for a block's weight. */
    @FunctionalInterface
    public interface LinearFactory {
        Linear create(int layer, Projection projection, Tensor weight);
    }

    public Linear linear(int layer, Projection projection) {
        return linears.get(layer).get(projection);
    }

    /** The seven linear layers of a block. */
    public Projections<Linear> linears(int layer) {
        return linears.get(layer);
    }

    /** 16 when queries, keys and values stay fp32. */
    public int qkvBits() {
        return qkvBits;
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    /** The device the model runs on: its weights', and that of the caches and logits it makes. */
    public Device device() {
        return weights.device();
    }

    /**
     * This model copied to device (e.g. Device.cuda(0)), or this model where it is already there.
     * The full-precision weights all go along (the dense layers use them; a quantized model keeps
     * them beside its codes).
     */
    public LlamaModel to(Arena arena, Device device) {
        if (device.equals(device())) return this;
        return new LlamaModel(weights.to(arena, device), (layer, p, w) -> {
            Linear l = linear(layer, p);
            return l instanceof Linear.Dense ? new Linear.Dense(w) : l.to(arena, device);
        }, qkvBits);
    }

    public KvCache newCache(Arena arena) {
        return new KvCache(arena, config, device());
    }

    /**
     * Runs tokens at positions cache.length() .. + tokens.length - 1, appends their keys and
     * values to the cache, and returns logits [tokens.length, vocab] allocated in arena, on the
     * model's device (a cache from {@link #newCache}).
     */
    public Tensor forward(Arena arena, int[] tokens, KvCache cache) {
        int m = tokens.length;
        if (m == 0) throw new LowbitException("forward needs at least one token");
        long pos0 = cache.length();
        int dim = config.dim(), kvDim = config.kvDim(), hidden = config.hiddenDim();
        Device d = device();
        Tensor x = embed(arena, tokens);
        Tensor xb = Tensor.allocate(arena, d, DType.F32, m, dim), q = Tensor.allocate(arena, d, DType.F32, m, dim);
        Tensor k = Tensor.allocate(arena, d, DType.F32, m, kvDim), v = Tensor.allocate(arena, d, DType.F32, m, kvDim);
        Tensor att = Tensor.allocate(arena, d, DType.F32, m, dim);
        Tensor h1 = Tensor.allocate(arena, d, DType.F32, m, hidden), h3 = Tensor.allocate(arena, d, DType.F32, m, hidden);
        for (int l = 0; l < config.layers(); l++) {
            LlamaWeights.Layer layer = weights.layers().get(l);
            Projections<Linear> lin = linears.get(l);
            NnKernels.rmsNorm(x, layer.attentionNorm(), config.normEps(), xb, null);
            lin.q().apply(arena, xb, q, 0f);
            lin.k().apply(arena, xb, k, 0f);
            lin.v().apply(arena, xb, v, 0f);
            NnKernels.rope(q, config.heads(), pos0, m, config.ropeTheta());
            NnKernels.rope(k, config.kvHeads(), pos0, m, config.ropeTheta());
            if (qkvBits < 16) {
                int headDim = dim / config.heads();
                Kernels.fakeQuantGroups(q, headDim, qkvBits, q);
                Kernels.fakeQuantGroups(k, headDim, qkvBits, k);
                Kernels.fakeQuantGroups(v, headDim, qkvBits, v);
            }
            cache.store(l, k, v);
            NnKernels.attention(q, cache.keys(l), cache.values(l), pos0, config.heads(), config.kvHeads(), att);
            lin.o().apply(arena, att, x, 1f);
            NnKernels.rmsNorm(x, layer.ffnNorm(), config.normEps(), xb, null);
            lin.gate().apply(arena, xb, h1, 0f);
            lin.up().apply(arena, xb, h3, 0f);
            NnKernels.siluGate(h1, h3, h1);
            lin.down().apply(arena, h1, x, 1f);
        }
        cache.advance(m);
        NnKernels.rmsNorm(x, weights.finalNorm(), config.normEps(), x, null);
        Tensor logits = Tensor.allocate(arena, d, DType.F32, m, config.vocabSize());
        Kernels.matmul(x, weights.output().transpose(), logits, 1f, 0f);
        return logits;
    }

    private Tensor embed(Arena arena, int[] tokens) {
        Tensor x = Tensor.allocate(arena, device(), DType.F32, tokens.length, config.dim());
        weights.embed(tokens, x);
        return x;
    }
}
