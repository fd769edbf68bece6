package dev.lowbit.runtime.kernels;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.util.Arrays;

/** Argument checks run before every downcall, so bad input becomes a LowbitException, not a crash. */
final class Check {
    private Check() {}

    /** A live, contiguous tensor on device of one of the allowed dtypes. */
    static Tensor on(Device device, Tensor t, String name, DType... allowed) {
        if (t == null) throw new LowbitException(name + " is null");
        if (!t.device().equals(device))
            throw new LowbitException(name + " is on " + t.device() + " but this call runs on " + device
                    + "; copy it there first (Tensor.to(arena, device))");
        if (!t.segment().scope().isAlive()) throw new LowbitException(name + "'s arena is already closed");
        if (!t.isContiguous())
            throw new LowbitException(
                    name + " must be contiguous (row-major), got strides " + Arrays.toString(t.strides()));
        if (allowed.length > 0 && !Arrays.asList(allowed).contains(t.dtype()))
            throw new LowbitException(name + " must be " + Arrays.toString(allowed) + ", got " + t.dtype());
        return t;
    }

    /** The device of t, after checking t as {@link #on} does there. */
    static Device device(Tensor t, String name, DType... allowed) {
        if (t == null) throw new LowbitException(name + " is null");
        return on(t.device(), t, name, allowed).device();
    }

    /** Weights [out, in]: a live, contiguous 2-D F32 tensor; its device. */
    static Device weights(Tensor w) {
        if (w == null) throw new LowbitException("weights are null");
        Device d = device(w, "weights", DType.F32);
        if (w.rank() != 2) throw new LowbitException("weights must be 2-D [out, in], got rank " + w.rank());
        return d;
    }

    static void shape(Tensor t, String name, long... expected) {
        if (!Arrays.equals(t.shape(), expected))
            throw new LowbitException(
                    name + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(expected));
    }

    /** A quantized matrix whose parts all live on device. */
    static void quantized(Device device, QuantizedTensor w, String name) {
        if (w == null) throw new LowbitException(name + " is null");
        on(device, w.codes(), name + ".codes", DType.I32);
        on(device, w.scales(), name + ".scales", DType.F32, DType.F16);
        on(device, w.zeros(), name + ".zeros", DType.F32, DType.F16);
    }

    /** As {@link #quantized(Device, QuantizedTensor, String)} on the device of w's codes. */
    static Device quantized(QuantizedTensor w, String name) {
        if (w == null) throw new LowbitException(name + " is null");
        quantized(w.device(), w, name);
        return w.device();
    }

    /** Rows of a [rows, cols] matrix (a 1-D tensor of cols counts as one row). */
    static long rowsOf(Tensor x, long cols, String name) {
        if (x.rank() == 1 && x.dim(0) == cols) return 1;
        if (x.rank() == 2 && x.dim(1) == cols) return x.dim(0);
        throw new LowbitException(name + " has shape " + Arrays.toString(x.shape()) + " but the weights take " + cols
                + " input features: expected [m, " + cols + "]");
    }
}
