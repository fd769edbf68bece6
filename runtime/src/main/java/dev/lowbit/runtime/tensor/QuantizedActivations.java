package dev.lowbit.runtime.tensor;

/**
 * Per-token quantized activations: codes [m, k] (one unsigned code per byte), and per row a scale
 * and an integer zero point, x = scale * (code - zero).
 */
public record QuantizedActivations(Tensor codes, Tensor scales, Tensor zeros, int bits) {
    public long rows() {
        return codes.dim(0);
    }

    public long cols() {
        return codes.dim(1);
    }
}
