package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Full-precision LLaMA weights, W as [out, in]: token embedding [vocab, dim], per layer the
 * attention and MLP weights, the final norm, and the output head [vocab, dim] (the embedding
 * itself when tied). Tensors are F32, or F16 / BF16 as a checkpoint stores them; the norms are
 * always F32. A loaded quantized model has no full-precision block linears (null).
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
        for (int i = 0; i < tokens.length; i++) {
            Tensor row = tokenEmbedding.rows(tokens[i], 1);
            if (row.dtype() == DType.F32) out.rows(i, 1).copyFrom(row);
            else Kernels.widen(row, out.rows(i, 1)); // a half-precision embedding as stored
        }
    }

    /**
     * The weights from tensors under their Hugging Face names (all of {@code
     * LlamaParameters.layout}; lm_head.weight only when the embeddings are untied).
     */
    public static LlamaWeights ofNamed(LlamaConfig config, Map<String, Tensor> tensors) {
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            int layer = l;
            String p = "model.layers." + l + ".";
            layers.add(new Layer(
                    tensors.get(p + "input_layernorm.weight"),
                    tensors.get(p + "post_attention_layernorm.weight"),
                    Projections.of(j -> tensors.get(j.weightName(layer)))));
        }
        Tensor embedding = tensors.get("model.embed_tokens.weight");
        return new LlamaWeights(
                config,
                embedding,
                List.copyOf(layers),
                tensors.get("model.norm.weight"),
                config.tiedEmbeddings() ? embedding : tensors.get("lm_head.weight"));
    }

    /** Every tensor under its Hugging Face name, in checkpoint order (lm_head.weight only when untied). */
    public Map<String, Tensor> named() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("model.embed_tokens.weight", tokenEmbedding);
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            String p = "model.layers." + l + ".";
            out.put(p + "input_layernorm.weight", layer.attentionNorm);
            for (Projection j : Projection.values()) out.put(j.weightName(l), layer.linears.get(j));
            out.put(p + "post_attention_layernorm.weight", layer.ffnNorm);
        }
        out.put("model.norm.weight", finalNorm);
        if (!config.tiedEmbeddings()) out.put("lm_head.weight", output);
        return out;
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

    /**
     * These weights copied to device (a tied head stays tied); on a GPU half-precision weights are
     * widened to fp32 (its dense kernels multiply operands of one dtype).
     */
    public LlamaWeights to(Arena arena, Device device) {
        Tensor embedding = moved(tokenEmbedding, arena, device);
        List<Layer> moved = layers.stream()
                .map(l -> new Layer(
                        moved(l.attentionNorm, arena, device),
                        moved(l.ffnNorm, arena, device),
                        l.linears.map(w -> moved(w, arena, device))))
                .toList();
        return new LlamaWeights(
                config,
                embedding,
                moved,
                moved(finalNorm, arena, device),
                output == tokenEmbedding ? embedding : moved(output, arena, device));
    }

    private static Tensor moved(Tensor t, Arena arena, Device device) {
        if (t == null) return null; // a quantized model's block linears have codes instead
        if (device.kind() == Device.Kind.CPU || t.dtype() == DType.F32) return t.to(arena, device);
        return Kernels.widened(arena, t.onHost(arena)).to(arena, device);
    }
}
