package dev.lowbit.runtime.model;

import dev.lowbit.runtime.Tensor;
import java.util.List;

/**
 * Full-precision LLaMA weights, W as [out, in]: token embedding [vocab, dim], per layer the
 * attention and MLP weights, the final norm, and the output head [vocab, dim] (the embedding
 * itself when tied).
 */
public record LlamaWeights(LlamaConfig config, Tensor tokenEmbedding, List<Layer> layers, Tensor finalNorm, Tensor output) {
    /** One transformer block: attention_norm, wq/wk/wv/wo, ffn_norm, w1 (gate), w2 (down), w3 (up). */
    public record Layer(Tensor attentionNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo, Tensor ffnNorm, Tensor w1,
                        Tensor w2, Tensor w3) {
        /** The seven linear weights in {@link LlamaModel#LINEARS} order. */
        public Tensor[] linears() {
            return new Tensor[] {wq, wk, wv, wo, w1, w2, w3};
        }
    }

    /** out[i] = the embedding of tokens[i] (out: [tokens.length, dim] fp32, or a view of such rows); ids are checked first. */
    public void embed(int[] tokens, Tensor out) {
        long row = (long) config.dim() * Float.BYTES;
        for (int i = 0; i < tokens.length; i++)
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new dev.lowbit.runtime.LowbitException("token id " + tokens[i] + " at " + i + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
        for (int i = 0; i < tokens.length; i++)
            java.lang.foreign.MemorySegment.copy(tokenEmbedding.segment(), tokens[i] * row, out.segment(), i * row, row);
    }
}
