package dev.lowbit.methods.quant;

import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.QuantSpec;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import java.lang.foreign.Arena;

/**
 * Round-to-nearest: every linear layer of every block quantized group-wise on its own, no data, no
 * training (embedding, norms and output head stay fp32). The baseline DL-QAT and QLLM must beat.
 */
public final class Rtn {
    private Rtn() {}

    public static LlamaModel quantize(Arena arena, LlamaWeights weights, QuantSpec spec) {
        return new LlamaModel(weights, (layer, name, w) -> new Linear.Quantized(Kernels.quantize(arena, w, spec)));
    }
}
