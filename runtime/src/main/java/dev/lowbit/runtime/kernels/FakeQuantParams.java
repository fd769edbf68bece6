package dev.lowbit.runtime.kernels;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;

/**
 * Per-group parameters of a fake-quantized weight [n, k]: scales, zero points and optional
 * trainable magnitudes (null = 1), each F32 [n, k / groupSize].
 */
public record FakeQuantParams(Tensor scales, Tensor zeros, Tensor magnitude, int bits, int groupSize) {
    /** Checks w and these parameters against each other; returns the device they share. */
    Device check(Tensor w) {
        Device d = Check.weights(w);
        if (bits != 2 && bits != 3 && bits != 4 && bits != 6 && bits != 8)
            throw new LowbitException(bits + "-bit weights are not supported: use 2, 3, 4, 6 or 8");
        if (groupSize <= 0 || w.dim(1) % groupSize != 0)
            throw new LowbitException(
                    "group size " + groupSize + " does not divide the " + w.dim(1) + " input features");
        long[] groups = {w.dim(0), w.dim(1) / groupSize};
        Check.shape(Check.on(d, scales, "scales", DType.F32), "scales", groups);
        Check.shape(Check.on(d, zeros, "zeros", DType.F32), "zeros", groups);
        if (magnitude != null) Check.shape(Check.on(d, magnitude, "magnitude", DType.F32), "magnitude", groups);
        return d;
    }
}
