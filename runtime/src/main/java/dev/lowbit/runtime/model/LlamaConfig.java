package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;

/**
 * LLaMA architecture hyperparameters: model width, SwiGLU hidden width, layers, attention heads
 * and key/value heads (grouped-query attention when fewer), vocabulary, maximum sequence length,
 * RMSNorm epsilon, RoPE base, and whether the output head shares the token embedding.
 */
public record LlamaConfig(
        int dim,
        int hiddenDim,
        int layers,
        int heads,
        int kvHeads,
        int vocabSize,
        int maxSeqLen,
        float normEps,
        float ropeTheta,
        boolean tiedEmbeddings) {
    public LlamaConfig {
        if (dim <= 0 || hiddenDim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocabSize <= 0 || maxSeqLen <= 0)
            throw new LowbitException(String.format(
                    "model dimensions must be positive: dim %d, hiddenDim %d, layers %d, heads %d, kvHeads %d, "
                            + "vocabSize %d, maxSeqLen %d",
                    dim, hiddenDim, layers, heads, kvHeads, vocabSize, maxSeqLen));
        if (dim % heads != 0) throw new LowbitException("dim " + dim + " is not a multiple of " + heads + " heads");
        if (heads % kvHeads != 0)
            throw new LowbitException(heads + " heads are not a multiple of " + kvHeads + " key/value heads");
        if ((dim / heads) % 2 != 0)
            throw new LowbitException("head size " + dim / heads + " must be even for rotary embeddings");
        if (!(normEps > 0) || !(ropeTheta > 0))
            throw new LowbitException("normEps and ropeTheta must be positive: " + normEps + ", " + ropeTheta);
    }

    public int headDim() {
        return dim / heads;
    }

    public int kvDim() {
        return kvHeads * headDim();
    }

    /** Weights in the model (the tied head counted once). */
    public long parameterCount() {
        long perLayer = 2L * dim + (long) dim * dim * 2 + 2L * kvDim() * dim + 3L * hiddenDim * dim;
        return (long) vocabSize * dim * (tiedEmbeddings ? 1 : 2) + layers * perLayer + dim;
    }
}
