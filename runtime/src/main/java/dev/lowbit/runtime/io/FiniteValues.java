package dev.lowbit.runtime.io;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Finite;
import dev.lowbit.runtime.tensor.Tensor;
import java.nio.file.Path;

/** Every number a checkpoint stores in a float tensor must be finite; a NaN or Inf is blamed on the file and tensor. */
public final class FiniteValues {
    private FiniteValues() {}

    /** Checks an F32 or F16 host tensor (other dtypes hold no floats and pass), at memory speed ({@link Finite}). */
    public static void check(Path file, String name, Tensor t) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.F16) return;
        long i = Finite.firstNonFinite(t);
        if (i >= 0)
            throw new CheckpointException(file + ": tensor '" + name + "' holds " + Finite.valueAt(t, i)
                    + " at element " + i + "; the checkpoint is damaged: rewrite it from its source");
    }
}
