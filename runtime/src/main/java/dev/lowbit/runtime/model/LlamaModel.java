package dev.lowbit.runtime.model;

import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.NnKernels;
import dev.lowbit.runtime.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * LLaMA inference over the kernel facade: token embedding, then per block RMSNorm -> q/k/v ->
 * RoPE -> causal grouped-query attention (with a KV cache) -> output projection, RMSNorm -> SwiGLU
 * MLP, each with a residual, then the final norm and the output head. The weights are shared and
 * never written, so one model serves many threads, each with its own {@link KvCache}.
 */
public final class LlamaModel {
    private final LlamaWeights weights;
    private final LlamaConfig config;

    public LlamaModel(LlamaWeights weights) {
        this.weights = weights;
        this.config = weights.config();
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    public KvCache newCache(Arena arena) {
        return new KvCache(arena, config);
    }

    /**
     * Runs tokens at positions cache.length() .. + tokens.length - 1, appends their keys and
     * values to the cache, and returns logits [tokens.length, vocab] allocated in arena.
     */
    public Tensor forward(Arena arena, int[] tokens, KvCache cache) {
        int m = tokens.length;
        if (m == 0) throw new LowbitException("forward needs at least one token");
        long pos0 = cache.length();
        int dim = config.dim(), kvDim = config.kvDim(), hidden = config.hiddenDim();
        Tensor x = embed(arena, tokens);
        Tensor xb = Tensor.allocate(arena, DType.F32, m, dim), q = Tensor.allocate(arena, DType.F32, m, dim);
        Tensor k = Tensor.allocate(arena, DType.F32, m, kvDim), v = Tensor.allocate(arena, DType.F32, m, kvDim);
        Tensor att = Tensor.allocate(arena, DType.F32, m, dim);
        Tensor h1 = Tensor.allocate(arena, DType.F32, m, hidden), h3 = Tensor.allocate(arena, DType.F32, m, hidden);
        for (int l = 0; l < config.layers(); l++) {
            LlamaWeights.Layer layer = weights.layers().get(l);
            NnKernels.rmsNorm(x, layer.attentionNorm(), config.normEps(), xb, null);
            linear(xb, layer.wq(), q, 0f);
            linear(xb, layer.wk(), k, 0f);
            linear(xb, layer.wv(), v, 0f);
            NnKernels.rope(q, config.heads(), pos0, m, config.ropeTheta());
            NnKernels.rope(k, config.kvHeads(), pos0, m, config.ropeTheta());
            cache.store(l, k, v);
            NnKernels.attention(q, cache.keys(l), cache.values(l), pos0, config.heads(), config.kvHeads(), att);
            linear(att, layer.wo(), x, 1f);
            NnKernels.rmsNorm(x, layer.ffnNorm(), config.normEps(), xb, null);
            linear(xb, layer.w1(), h1, 0f);
            linear(xb, layer.w3(), h3, 0f);
            NnKernels.siluGate(h1, h3, h1);
            linear(h1, layer.w2(), x, 1f);
        }
        cache.advance(m);
        NnKernels.rmsNorm(x, weights.finalNorm(), config.normEps(), x, null);
        Tensor logits = Tensor.allocate(arena, DType.F32, m, config.vocabSize());
        linear(x, weights.output(), logits, 0f);
        return logits;
    }

    /** out = in . W^T + beta * out, W [out features, in features]. */
    private static void linear(Tensor in, Tensor w, Tensor out, float beta) {
        Kernels.matmul(in, w.transpose(), out, 1f, beta);
    }

    private Tensor embed(Arena arena, int[] tokens) {
        Tensor x = Tensor.allocate(arena, DType.F32, tokens.length, config.dim());
        long rowBytes = (long) config.dim() * Float.BYTES;
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new LowbitException("token id " + tokens[i] + " at " + i + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            MemorySegment.copy(weights.tokenEmbedding().segment(), tokens[i] * rowBytes, x.segment(), i * rowBytes, rowBytes);
        }
        return x;
    }
}
