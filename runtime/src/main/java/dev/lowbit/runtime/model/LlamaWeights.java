package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;

/**
 * Full-precision LLaMA weights, W as [out, in]: token embedding [vocab, dim], per layer the
 * attention and MLP weights, the final norm, and the output head [vocab, dim] (the embedding
 * itself when tied).
 */
public record LlamaWeights(
        LlamaConfig config, Tensor tokenEmbedding, List<Layer> layers, Tensor finalNorm, Tensor output) {
    /** One transformer block: the RMSNorm weights before attention and before the MLP, and the seven linear weights. */
    public record Layer(Tensor attentionNorm, Tensor ffnNorm, Projections<Tensor> linears) {}

    /**
     * out[i] = the embedding of tokens[i] (out: [tokens.length, dim] fp32, or a view of such rows, on
     * the embedding's device); ids are checked first.
     */
    public void embed(int[] tokens, Tensor out) {
        checkTokens(tokens);
        for (int i = 0; i < tokens.length; i++) out.rows(i, 1).copyFrom(tokenEmbedding.rows(tokens[i], 1));
    }

    /** Every id of tokens is in the vocabulary, or an error naming the first that is not. */
    void checkTokens(int[] tokens) {
        for (int i = 0; i < tokens.length; i++)
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new LowbitException("token id " + tokens[i] + " at " + i + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
    }

    /** The device the weights are on. */
    public Device device() {
        return tokenEmbedding.device();
    }

    /** These weights copied to device (a tied head stays tied). */
    public LlamaWeights to(Arena arena, Device device) {
        Tensor embedding = tokenEmbedding.to(arena, device);
        List<Layer> moved = layers.stream()
                .map(l -> new Layer(
                        l.attentionNorm.to(arena, device),
                        l.ffnNorm.to(arena, device),
                        l.linears.map(w -> w.to(arena, device))))
                .toList();
        return new LlamaWeights(
                config,
                embedding,
                moved,
                finalNorm.to(arena, device),
                output == tokenEmbedding ? embedding : output.to(arena, device));
    }
}
