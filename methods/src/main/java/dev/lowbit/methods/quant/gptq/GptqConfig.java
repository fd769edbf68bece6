package dev.lowbit.methods.quant.gptq;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.QuantSpec;

/**
 * GPTQ's settings: the weight format (bits, group size or per-channel, symmetric or not; min-max
 * ranges, fp32 scales), the dampening added to the Hessian's diagonal as a fraction of its mean
 * (AutoGPTQ's damp_percent, default 0.01), and activation order (desc_act: columns quantized in
 * order of decreasing Hessian diagonal).
 */
public record GptqConfig(QuantSpec spec, double damp, boolean actOrder) {
    public static final double DEFAULT_DAMP = 0.01;

    public GptqConfig {
        if (spec.range() != QuantSpec.Range.MINMAX)
            throw new LowbitException("GPTQ computes min-max ranges as it reaches each group; ask for min-max ranges");
        if (!(damp >= 0 && damp < 1))
            throw new LowbitException("the GPTQ dampening must be in [0, 1) of the mean Hessian diagonal, got " + damp);
    }

    public static GptqConfig of(int bits, int group) {
        return new GptqConfig(QuantSpec.of(bits, group), DEFAULT_DAMP, false);
    }
}
