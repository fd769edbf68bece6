package dev.lowbit.runtime.model;

import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A host array for up to rows rows of logits, filled from the model's device (through pinned memory from a GPU). */
final class HostRows {
    private final Tensor pinned; // null on the host
    private final float[] array;
    private final int cols;

    HostRows(Arena arena, Device device, int rows, int cols) {
        this.cols = cols;
        this.pinned = device.kind() == Device.Kind.CPU ? null : Tensor.allocatePinned(arena, DType.F32, rows, cols);
        this.array = new float[rows * cols];
    }

    /** rows [n, cols] copied into the start of this object's array (overwritten by the next call); from a GPU it waits for the queued work. */
    float[] copy(Tensor rows) {
        int n = (int) rows.dim(0);
        Tensor host = rows;
        if (pinned != null) {
            host = pinned.rows(0, n);
            host.copyFrom(rows);
            Cuda.synchronize(rows.device());
        }
        MemorySegment.copy(host.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, array, 0, n * cols);
        return array;
    }
}
