package dev.lowbit.runtime.model;

import dev.lowbit.runtime.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Element-wise helpers of the model code over contiguous fp32 tensors of equal size. */
public final class Elementwise {
    private Elementwise() {}

    /** acc += t. */
    public static void addInto(Tensor t, Tensor acc) {
        MemorySegment a = acc.segment(), b = t.segment();
        for (long i = 0; i < acc.numel(); i++)
            a.setAtIndex(ValueLayout.JAVA_FLOAT, i, a.getAtIndex(ValueLayout.JAVA_FLOAT, i) + b.getAtIndex(ValueLayout.JAVA_FLOAT, i));
    }
}
