package dev.lowbit.methods.quant.awq;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.QuantSpec;

/**
 * AWQ's settings, AutoAWQ's defaults: the weight format RTN rounds to at the end; grid points of
 * the scale exponent α in [0, 1); duoScaling: s = mean|x|^α / mean(|w|/max|w|)^(1-α) (AutoAWQ's
 * default) rather than the paper's s = mean|x|^α; clip: search a clipping range per output row
 * and group (shrinking max|w| in clipGrid steps down to 1 - maxShrink) on clipTokens tokens.
 */
public record AwqConfig(
        QuantSpec spec, int grid, boolean duoScaling, boolean clip, int clipGrid, double maxShrink, int clipTokens) {
    public AwqConfig {
        if (spec.range() != QuantSpec.Range.MINMAX)
            throw new LowbitException("AWQ rounds with min-max ranges after its own clipping search; ask for min-max");
        if (grid < 1 || clipGrid < 1 || clipTokens < 1)
            throw new LowbitException("AWQ's grids and clip tokens must be positive");
        if (!(maxShrink >= 0 && maxShrink < 1))
            throw new LowbitException("AWQ's clipping shrink must be in [0, 1), got " + maxShrink);
    }

    public static AwqConfig of(QuantSpec spec) {
        return new AwqConfig(spec, 20, true, true, 20, 0.5, 512);
    }
}
