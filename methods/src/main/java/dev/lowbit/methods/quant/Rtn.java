package dev.lowbit.methods.quant;

import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.QuantSpec;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import java.lang.foreign.Arena;

/**
 * Round-to-nearest: every linear layer of every block quantized group-wise on its own, no data, no
 * training (embedding, norms and output head stay fp32); with activation bits below 16, every
 * linear's input is also quantized per token (asymmetric, dynamic) and multiplied in integers. The
 * baseline DL-QAT and QLLM must beat.
 */
public final class Rtn {
    private Rtn() {}

    public static LlamaModel quantize(Arena arena, LlamaWeights weights, QuantSpec spec) {
        return quantize(arena, weights, spec, 16);
    }

    /** activationBits: 16 (weights only), or 4 or 8 (with 4- or 8-bit weights). */
    public static LlamaModel quantize(Arena arena, LlamaWeights weights, QuantSpec spec, int activationBits) {
        return new LlamaModel(weights, (layer, name, w) -> activationBits == 16 ? new Linear.Quantized(Kernels.quantize(arena, w, spec))
                : new Linear.ActQuantized(Kernels.quantize(arena, w, spec), activationBits));
    }
}
