package dev.lowbit.methods.quant.rtn;

import dev.lowbit.methods.quant.BlockWeights;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.QuantizedCheckpointWriter;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Round-to-nearest: every linear layer of every block quantized group-wise on its own, no data, no
 * training (embedding, norms and output head stay fp32); with activation bits below 16, every
 * linear's input is also quantized per token (asymmetric, dynamic) and multiplied in integers. The
 * baseline DL-QAT and QLLM must beat.
 */
public final class Rtn {
    private Rtn() {}

    public static LlamaModel quantize(Arena arena, LlamaWeights weights, QuantSpec spec) {
        return quantize(arena, weights, spec, 16, 16);
    }

    /**
     * activationBits: 16 (weights only) or 2..8 per token (integer kernels for W4/W8 x A4/A8,
     * simulated otherwise); qkvBits: the attention's queries, keys and values per token and head
     * (16: fp32).
     */
    public static LlamaModel quantize(
            Arena arena, LlamaWeights weights, QuantSpec spec, int activationBits, int qkvBits) {
        return new LlamaModel(
                weights,
                (layer, name, w) -> activationBits == 16
                        ? new Linear.Quantized(quantize(arena, w, spec))
                        : new Linear.ActQuantized(quantize(arena, w, spec), activationBits),
                qkvBits);
    }

    /**
     * RTN streamed into a quantized checkpoint in dir (see {@link QuantizedCheckpointWriter}): each
     * block's linears are read in their stored dtype into an fp32 copy (q_proj and k_proj reordered
     * there from Hugging Face's row order when hfRotaryOrder, see BlockWeights), quantized and
     * written, one at a time, and
     * blockDone is told each finished block; headSpec (null: kept as stored) quantizes the output
     * head, weight-only. The codes are those of {@link #quantize(Arena,
     * LlamaWeights, QuantSpec, int, int)}.
     */
    public static void write(
            LlamaWeights weights,
            boolean hfRotaryOrder,
            QuantSpec spec,
            int activationBits,
            int qkvBits,
            QuantSpec headSpec,
            Path dir,
            Map<String, String> metadata,
            long maxShardBytes,
            IntConsumer blockDone) {
        try (QuantizedCheckpointWriter out = new QuantizedCheckpointWriter(
                weights, spec, activationBits, qkvBits, headSpec, dir, metadata, maxShardBytes)) {
            int layers = weights.config().layers();
            for (int l = 0; l < layers; l++) {
                for (Projection p : Projection.values())
                    try (Arena linear = Arena.ofConfined()) {
                        Tensor w = BlockWeights.linear(linear, weights, hfRotaryOrder, l, p);
                        out.putLinear(p.weightName(l), quantizeNamed(linear, w, spec, p.weightName(l)));
                    }
                blockDone.accept(l + 1);
            }
            weights.named().forEach((name, t) -> {
                if (Projection.ofWeightName(name) == null && !(headSpec != null && name.equals("lm_head.weight")))
                    out.put(name, t);
            });
            if (headSpec != null) // the embedding stays as stored; a tied head gets its own codes
            try (Arena head = Arena.ofConfined()) {
                    out.putLinear("lm_head.weight", quantizeNamed(head, weights.output(), headSpec, "lm_head.weight"));
                }
            out.finish();
        }
    }

    /** As {@link #quantize(Arena, Tensor, QuantSpec)}; a failure (e.g. NaN in the checkpoint) names the tensor. */
    private static QuantizedTensor quantizeNamed(Arena arena, Tensor w, QuantSpec spec, String name) {
        try {
            return quantize(arena, w, spec);
        } catch (LowbitException e) {
            throw new LowbitException("tensor '" + name + "': " + e.getMessage(), e);
        }
    }

    /** w (fp32, or half precision widened exactly in a temporary copy) quantized into arena. */
    public static QuantizedTensor quantize(Arena arena, Tensor w, QuantSpec spec) {
        if (w.dtype() == DType.F32) return Kernels.quantize(arena, w, spec);
        try (Arena wide = Arena.ofConfined()) {
            return Kernels.quantize(arena, Kernels.widened(wide, w), spec);
        }
    }
}
