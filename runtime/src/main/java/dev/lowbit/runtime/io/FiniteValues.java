package dev.lowbit.runtime.io;

import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/** Every number a checkpoint stores in a float tensor must be finite; a NaN or Inf is blamed on the file and tensor. */
final class FiniteValues {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private FiniteValues() {}

    /** Checks an F32 or F16 host tensor (other dtypes hold no floats and pass). */
    static void check(Path file, String name, Tensor t) {
        MemorySegment s = t.segment();
        switch (t.dtype()) {
            case F32 -> {
                for (long i = 0; i < t.numel(); i++)
                    if (!Float.isFinite(s.getAtIndex(F32, i))) throw nonFinite(file, name, i, s.getAtIndex(F32, i));
            }
            case F16 -> {
                for (long i = 0; i < t.numel(); i++) {
                    float v = Float.float16ToFloat(s.getAtIndex(F16, i));
                    if (!Float.isFinite(v)) throw nonFinite(file, name, i, v);
                }
            }
            default -> {}
        }
    }

    private static CheckpointException nonFinite(Path file, String name, long i, float v) {
        return new CheckpointException(file + ": tensor '" + name + "' holds " + v + " at element " + i
                + "; the checkpoint is damaged: rewrite it from its source");
    }
}
