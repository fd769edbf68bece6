package dev.lowbit.runtime.model;

import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
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
        /** The seven linear weights by name. */
        public Projections<Tensor> linears() {
            return new Projections<>(wq, wk, wv, wo, w1, w3, w2);
        }
    }

    /**
     * out[i] = the embedding of tokens[i] (out: [tokens.length, dim] fp32, or a view of such rows, on
     * the embedding's device); ids are checked first.
     */
    public void embed(int[] tokens, Tensor out) {
        for (int i = 0; i < tokens.length; i++)
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new dev.lowbit.runtime.LowbitException("token id " + tokens[i] + " at " + i + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
        for (int i = 0; i < tokens.length; i++) out.rows(i, 1).copyFrom(tokenEmbedding.rows(tokens[i], 1));
    }

    /** The device the weights are on. */
    public Device device() {
        return tokenEmbedding.device();
    }

    /** These weights copied to device (a tied head stays tied). */
    public LlamaWeights to(Arena arena, Device device) {
        Tensor embedding = tokenEmbedding.to(arena, device);
        List<Layer> moved = layers.stream().map(l -> new Layer(l.attentionNorm.to(arena, device), l.wq.to(arena, device),
                l.wk.to(arena, device), l.wv.to(arena, device), l.wo.to(arena, device), l.ffnNorm.to(arena, device),
                l.w1.to(arena, device), l.w2.to(arena, device), l.w3.to(arena, device))).toList();
        return new LlamaWeights(config, embedding, moved, finalNorm.to(arena, device),
                output == tokenEmbedding ? embedding : output.to(arena, device));
    }
}
