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

    /** A state for batched forwards of up to maxSequences sequences and maxRows tokens a step (see {@link BatchState}). */
    public BatchState newBatchState(Arena arena, int maxRows, int maxSequences) {
        return new BatchState(arena, this, maxRows, maxSequences);
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
            Activations a = state.buffers().first(m);
            run(a, tokens.length <= chunk ? tokens : Arrays.copyOfRange(tokens, from, from + m), alone(m, cache), null);
            head.apply(a.scratch(), a.x(), a.logits(), 0f);
            state.ran(m);
        }
        return state.logits();
    }

    /** One sequence's part of a batched forward: tokens at positions cache.length() .. + tokens.length - 1. */
    public record Chunk(PagedKvCache cache, int[] tokens) {}

    /**
     * Continuous batching's step: one forward over the chunks of several sequences at once (a
     * decoding sequence's one token, or a piece of a prompt), every linear layer running all their
     * rows together, rotary embedding and attention per sequence at its own positions over its own
     * cache. Appends each chunk's keys and values to its cache and returns the logits of each
     * chunk's last token [chunks, vocab], a view of the state's buffer ({@link
     * BatchState#hostLogits}). Everything is checked before anything runs.
     */
    public Tensor forward(BatchState state, List<Chunk> chunks) {
        if (state.model() != this)
            throw new LowbitException("this batch state belongs to another model: make one with newBatchState");
        int n = chunks.size();
        if (n == 0 || n > state.maxSequences())
            throw new LowbitException("a batched forward runs 1 to " + state.maxSequences() + " sequences, got " + n);
        int total = 0;
        for (Chunk c : chunks) {
            if (c.tokens().length == 0) throw new LowbitException("each sequence of a batch needs at least one token");
            total += c.tokens().length;
        }
        if (total > state.maxRows())
            throw new LowbitException("a batched forward runs up to " + state.maxRows() + " tokens, got " + total
                    + ": split the prompts");
        int[] tokens = new int[total];
        Segment[] segments = new Segment[n];
        int from = 0;
        for (int i = 0; i < n; i++) {
            Chunk c = chunks.get(i);
            for (int j = 0; j < i; j++)
                if (segments[j].kv() == c.cache()) throw new LowbitException("a sequence appears twice in one batch");
            c.cache().checkRoom(c.tokens().length);
            System.arraycopy(c.tokens(), 0, tokens, from, c.tokens().length);
            segments[i] = new Segment(from, c.tokens().length, c.cache().length(), c.cache());
            from += c.tokens().length;
        }
        weights.checkTokens(tokens);
        Activations a = state.buffers().first(total);
        run(a, tokens, segments, state);
        Tensor last = state.last().rows(0, n), logits = state.logits().rows(0, n);
        for (int i = 0; i < n; i++) last.rows(i, 1).copyFrom(a.x().rows(segments[i].end() - 1, 1));
        head.apply(a.scratch(), last, logits, 0f);
        return logits;
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
        run(a, tokens, alone(tokens.length, cache), null);
        head.apply(a.scratch(), a.x(), a.logits(), 0f);
        return a.logits();
    }

    /** Rows [from, from + rows) of a batch belong to one sequence, whose first is at position pos0. */
    private record Segment(int from, int rows, int pos0, SequenceKv kv) {
        int end() {
            return from + rows;
        }

        /** This sequence's rows of t; t itself when the batch is this sequence alone. */
        Tensor of(Tensor t) {
            return from == 0 && rows == t.dim(0) ? t : t.rows(from, rows);
        }
    }

    private static Segment[] alone(int rows, KvCache cache) {
        return new Segment[] {new Segment(0, rows, cache.length(), cache)};
    }

    /**
     * The forward pass of tokens (as many as a has rows), each segment through its cache, up to the
     * final norm (left in a.x()); the caller applies the head to the rows it needs. Paged caches are
     * gathered into the scratch of state (null when every cache is contiguous).
     */
    private void run(Activations a, int[] tokens, Segment[] segments, BatchState state) {
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
            for (Segment s : segments) {
                NnKernels.rope(s.of(q), config.heads(), s.pos0(), s.rows(), config.ropeTheta());
                NnKernels.rope(s.of(k), config.kvHeads(), s.pos0(), s.rows(), config.ropeTheta());
            }
            if (qkvBits < 16) {
                int headDim = dim / config.heads();
                Kernels.fakeQuantGroups(q, headDim, qkvBits, q);
                Kernels.fakeQuantGroups(k, headDim, qkvBits, k);
                Kernels.fakeQuantGroups(v, headDim, qkvBits, v);
            }
            for (Segment s : segments) {
                s.kv().store(l, s.of(k), s.of(v));
                int upTo = s.pos0() + s.rows();
                Tensor keys = s.kv().keys(l, upTo, state == null ? null : state.keys());
                Tensor values = s.kv().values(l, upTo, state == null ? null : state.values());
                NnKernels.attention(s.of(q), keys, values, s.pos0(), config.heads(), config.kvHeads(), s.of(att));
            }
            lin.o().apply(scratch, att, x, 1f);
            NnKernels.rmsNorm(x, layer.ffnNorm(), config.normEps(), xb, null);
            lin.gate().apply(scratch, xb, h1, 0f);
            lin.up().apply(scratch, xb, h3, 0f);
            NnKernels.siluGate(h1, h3, h1);
            lin.down().apply(scratch, h1, x, 1f);
        }
        for (Segment s : segments) s.kv().advance(s.rows());
        NnKernels.rmsNorm(x, weights.finalNorm(), config.normEps(), x, null);
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
