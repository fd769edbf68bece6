package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * LLaMA inference over the kernel facade: token embedding, then per block RMSNorm -> q/k/v ->
 * RoPE -> causal grouped-query attention (with a KV cache) -> output projection, RMSNorm -> SwiGLU
 * MLP, each with a residual, then the final norm and the output head. The weights are shared and
 * never written, so one model serves many threads, each with its own {@link DecodeState} (or {@link KvCache}).
 */
public final class LlamaModel {
    /** The most prompt tokens a {@link #newState(Arena) default decode state} runs in one pass. */
    public static final int PROMPT_CHUNK = 64;

    private final LlamaWeights weights;
    private final LlamaConfig config;
    private final List<Projections<Linear>> linears; // per layer
    private final int qkvBits;
    private final Linear head;

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
        this(weights, make, qkvBits, null);
    }

    /**
     * As {@link #LlamaModel(LlamaWeights, LinearFactory, int)}, with the output head run by head
     * (e.g. quantized weights [vocab, dim]); null keeps it dense on weights.output().
     */
    public LlamaModel(LlamaWeights weights, LinearFactory make, int qkvBits, Linear head) {
        if (qkvBits != 16 && (qkvBits < 2 || qkvBits > 8))
            throw new LowbitException(
                    qkvBits + "-bit queries/keys/values are not supported: use 2 to 8, or 16 for fp32");
        this.qkvBits = qkvBits;
        this.weights = weights;
        this.config = weights.config();
        List<Projections<Linear>> built = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            int layer = l;
            built.add(weights.layers().get(l).linears().map((p, w) -> make.create(layer, p, w)));
        }
        this.linears = List.copyOf(built);
        this.head = head != null ? head : new Linear.Dense(weights.output());
        if (this.head.outFeatures() != config.vocabSize() || this.head.inFeatures() != config.dim())
            throw new LowbitException("the output head is [" + this.head.outFeatures() + ", " + this.head.inFeatures()
                    + "], the model needs [" + config.vocabSize() + ", " + config.dim() + "]");
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

    /** The output head: dense on the output weights, or quantized (--head-bits). */
    public Linear head() {
        return head;
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
        return new LlamaModel(
                weights.to(arena, device),
                (layer, p, w) -> {
                    Linear l = linear(layer, p);
                    return l instanceof Linear.Dense ? new Linear.Dense(w) : l.to(arena, device);
                },
                qkvBits,
                head instanceof Linear.Dense ? null : head.to(arena, device));
    }

    public KvCache newCache(Arena arena) {
        return new KvCache(arena, config, device());
    }

    /** A cache for the first capacity positions only (e.g. an evaluation window, a prompt plus its answer). */
    public KvCache newCache(Arena arena, int capacity) {
        return new KvCache(arena, config, device(), capacity);
    }

    /** A decode state whose passes run up to {@link #PROMPT_CHUNK} tokens (fewer where the context is shorter). */
    public DecodeState newState(Arena arena) {
        return newState(arena, Math.min(PROMPT_CHUNK, config.maxSeqLen()));
    }

    /** A decode state on the model's device whose passes run up to maxRows tokens (longer prompts in chunks). */
    public DecodeState newState(Arena arena, int maxRows) {
        return newState(arena, maxRows, config.maxSeqLen());
    }

    /** As {@link #newState(Arena, int)}, for sequences of up to capacity positions (its KV cache holds no more). */
    public DecodeState newState(Arena arena, int maxRows, int capacity) {
        if (maxRows <= 0 || maxRows > config.maxSeqLen())
            throw new LowbitException(
                    "a decode state runs 1 to " + config.maxSeqLen() + " tokens a pass, got " + maxRows);
        return new DecodeState(arena, this, maxRows, newCache(arena, capacity));
    }

    /**
     * Runs tokens at positions state.length() .. + tokens.length - 1 in chunks of state.maxRows(),
     * appends their keys and values to its cache, and returns the logits of the last token: {@link
     * DecodeState#logits()}, a view of the state's buffer. Allocates nothing. Ids and the context are
     * checked before anything runs.
     */
    public Tensor forward(DecodeState state, int[] tokens) {
        if (tokens.length == 0) throw new LowbitException("forward needs at least one token");
        if (state.model() != this)
            throw new LowbitException("this decode state belongs to another model: make one with newState");
        KvCache cache = state.cache();
        cache.checkRoom(tokens.length); // both before the first chunk touches the cache
        weights.checkTokens(tokens);
        int chunk = state.maxRows();
        for (int from = 0; from < tokens.length; from += chunk) {
            int m = Math.min(chunk, tokens.length - from);
            run(
                    state.buffers().first(m),
                    tokens.length <= chunk ? tokens : Arrays.copyOfRange(tokens, from, from + m),
                    cache);
            state.ran(m);
        }
        return state.logits();
    }

    /**
     * Runs tokens at positions cache.length() .. + tokens.length - 1, appends their keys and
     * values to the cache, and returns logits [tokens.length, vocab] allocated in arena, on the
     * model's device (a cache from {@link #newCache}). Evaluation's entry point: every call
     * allocates its activations; decoding goes through a {@link DecodeState} instead.
     */
    public Tensor forward(Arena arena, int[] tokens, KvCache cache) {
        if (tokens.length == 0) throw new LowbitException("forward needs at least one token");
        Activations a = Activations.allocate(arena, this, tokens.length);
        run(a, tokens, cache);
        return a.logits();
    }

    /** The forward pass of tokens (as many as a has rows) through the cache, into a. */
    private void run(Activations a, int[] tokens, KvCache cache) {
        int m = tokens.length;
        long pos0 = cache.length();
        int dim = config.dim();
        Tensor x = a.x(), xb = a.xb(), q = a.q(), k = a.k(), v = a.v(), att = a.att(), h1 = a.h1(), h3 = a.h3();
        LinearScratch scratch = a.scratch();
        weights.embed(tokens, x);
        for (int l = 0; l < config.layers(); l++) {
            LlamaWeights.Layer layer = weights.layers().get(l);
            Projections<Linear> lin = linears.get(l);
            NnKernels.rmsNorm(x, layer.attentionNorm(), config.normEps(), xb, null);
            lin.q().apply(scratch, xb, q, 0f);
            lin.k().apply(scratch, xb, k, 0f);
            lin.v().apply(scratch, xb, v, 0f);
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
            lin.o().apply(scratch, att, x, 1f);
            NnKernels.rmsNorm(x, layer.ffnNorm(), config.normEps(), xb, null);
            lin.gate().apply(scratch, xb, h1, 0f);
            lin.up().apply(scratch, xb, h3, 0f);
            NnKernels.siluGate(h1, h3, h1);
            lin.down().apply(scratch, h1, x, 1f);
        }
        cache.advance(m);
        NnKernels.rmsNorm(x, weights.finalNorm(), config.normEps(), x, null);
        head.apply(scratch, x, a.logits(), 0f);
    }

    /**
     * Bytes of weights one decode step reads: every block linear's (codes, scales and zeros, or
     * dense weights), the norms and the output head; the embedding only by the row.
     */
    public long weightBytesPerToken() {
        long bytes = weightBytes(head) + bytes(weights.finalNorm());
        for (int l = 0; l < config.layers(); l++) {
            LlamaWeights.Layer layer = weights.layers().get(l);
            bytes += bytes(layer.attentionNorm()) + bytes(layer.ffnNorm());
            for (Linear linear : linears.get(l).toList()) bytes += weightBytes(linear);
        }
        return bytes;
    }

    private static long weightBytes(Linear l) {
        return switch (l) {
            case Linear.Dense d -> bytes(d.weight());
            case Linear.Reassembled r -> weightBytes(r.inner());
            default -> {
                var q = Linear.quantizedWeight(l);
                yield bytes(q.codes()) + bytes(q.scales()) + bytes(q.zeros());
            }
        };
    }

    private static long bytes(Tensor t) {
        return t.numel() * t.dtype().byteSize();
    }

    /** Every block linear, for sizing the scratch they share. */
    List<Linear> allLinears() {
        List<Linear> all = new ArrayList<>(
                linears.stream().flatMap(p -> p.toList().stream()).toList());
        all.add(head);
        return all;
    }
}
