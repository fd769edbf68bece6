package dev.lowbit.methods.quant;

import dev.lowbit.runtime.LowbitException;
import java.util.Arrays;
import java.util.List;

/** The quantization methods a {@link QuantizePipeline} runs, by the ids metrics.json and checkpoints record. */
public enum QuantMethod {
    /** Round to nearest: weights quantized as they are. */
    RTN("rtn"),
    /** SmoothQuant: activation outliers migrated into the weights before rounding (needs calibration). */
    SMOOTHQUANT("smoothquant"),
    /** DL-QAT: quantization-aware training of LoRA factors and group magnitudes (weights only). */
    DLQAT("dlqat"),
    /** QLLM: channel reassembly and low-rank error correction (weights and activations). */
    QLLM("qllm"),
    /** GPTQ: column-by-column quantization with Hessian-weighted error feedback (needs calibration). */
    GPTQ("gptq"),
    /** AWQ: activation-aware per-channel scales folded into the model, clipping search, then RTN (needs calibration). */
    AWQ("awq");

    private final String id;

    QuantMethod(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    /** The method with this id. */
    public static QuantMethod of(String id) {
        for (QuantMethod m : values()) if (m.id.equals(id)) return m;
        throw new LowbitException("no quantization method " + id + ": use one of " + String.join(", ", ids()));
    }

    public static List<String> ids() {
        return Arrays.stream(values()).map(QuantMethod::id).toList();
    }

    @Override
    public String toString() {
        return id;
    }
}
