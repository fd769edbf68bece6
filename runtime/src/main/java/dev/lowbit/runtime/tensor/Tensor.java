package dev.lowbit.runtime.tensor;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An n-dimensional array: shape, strides (in elements), dtype and the memory segment holding it,
 * owned by the arena it was allocated in (closing the arena frees it). Host tensors live on
 * {@link Device#CPU}; CUDA tensors hold device memory, which only kernels and {@link #to(Arena,
 * Device)} touch (element access on them is an error, never a read of device addresses).
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final AtomicLong ALLOCATIONS = new AtomicLong();

    private final DType dtype;
    private final long[] shape;
    private final long[] strides;
    private final MemorySegment data;
    private final Device device;

    private Tensor(DType dtype, long[] shape, long[] strides, MemorySegment data, Device device) {
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.data = data;
        this.device = device;
    }

    /**
     * How many tensors this process has allocated so far, in host, pinned and device memory together
     * (views, reshapes and wrapped segments allocate nothing). A diagnostic: tests read it to check
     * that decoding a token allocates no memory.
     */
    public static long allocationCount() {
        return ALLOCATIONS.get();
    }

    /** A zero-filled contiguous host tensor. */
    public static Tensor allocate(Arena arena, DType dtype, long... shape) {
        return allocate(arena, Device.CPU, dtype, shape);
    }

    /** A zero-filled contiguous tensor on device. */
    public static Tensor allocate(Arena arena, Device device, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        long bytes = Math.multiplyExact(count(s), (long) dtype.byteSize());
        MemorySegment data = device.kind() == Device.Kind.CPU
                ? arena.allocate(Math.max(bytes, 1), 64)
                : Cuda.allocate(arena, device, bytes);
        ALLOCATIONS.incrementAndGet();
        return new Tensor(dtype, s, contiguousStrides(s), data, device);
    }

    /**
     * A zero-filled contiguous host tensor in page-locked memory: copies between it and a GPU run at
     * full PCIe speed and, with {@link #copyFrom}, asynchronously. Needs CUDA.
     */
    public static Tensor allocatePinned(Arena arena, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        MemorySegment data = Cuda.allocatePinned(arena, Math.multiplyExact(count(s), (long) dtype.byteSize()));
        ALLOCATIONS.incrementAndGet();
        return new Tensor(dtype, s, contiguousStrides(s), data, Device.CPU);
    }

    /**
     * Copies src (same dtype and shape, both contiguous) into this tensor, across devices. A copy
     * that involves a GPU is queued on the thread's {@link CudaStream} in use (else the default
     * stream) and may still run when this returns: synchronize the stream (or {@link
     * Cuda#synchronize}) before reading this tensor on the host or changing src.
     */
    public void copyFrom(Tensor src) {
        if (src == null) throw new LowbitException("copy source is null");
        if (src.dtype != dtype || !Arrays.equals(src.shape, shape))
            throw new LowbitException("cannot copy " + src + " into " + this + ": dtype and shape must match");
        for (Tensor t : new Tensor[] {src, this}) {
            if (!t.isContiguous())
                throw new LowbitException("copies need contiguous tensors, got strides " + Arrays.toString(t.strides));
            if (!t.data.scope().isAlive()) throw new LowbitException(t + "'s arena is already closed");
        }
        long bytes = Math.multiplyExact(numel(), (long) dtype.byteSize());
        if (device.kind() == Device.Kind.CPU && src.device.kind() == Device.Kind.CPU)
            MemorySegment.copy(src.data, 0, data, 0, bytes);
        else Cuda.copyAsync(data, device, src.data, src.device, bytes);
    }

    /** Rows [from, from + count) of this contiguous tensor (along its first dimension), sharing its memory, on its device. */
    public Tensor rows(long from, long count) {
        if (!isContiguous())
            throw new LowbitException("rows of a contiguous tensor only, got strides " + Arrays.toString(strides));
        if (rank() == 0 || from < 0 || count <= 0 || from + count > shape[0])
            throw new LowbitException("rows [" + from + ", " + (from + count) + ") are outside " + this);
        long rowBytes = strides[0] * dtype.byteSize();
        long[] s = shape.clone();
        s[0] = count;
        return new Tensor(dtype, s, contiguousStrides(s), data.asSlice(from * rowBytes, count * rowBytes), device);
    }

    /**
     * Elements [offset, offset + n) of this contiguous tensor in row-major order, n the element count
     * of shape, as a contiguous tensor of that shape sharing its memory, on its device: a view into a
     * flat buffer (parameters, optimizer state).
     */
    public Tensor slice(long offset, long... shape) {
        if (!isContiguous())
            throw new LowbitException("slices of a contiguous tensor only, got strides " + Arrays.toString(strides));
        long[] s = checkShape(shape);
        long n = count(s), size = dtype.byteSize();
        if (offset < 0 || offset > numel() - n)
            throw new LowbitException(
                    "elements [" + offset + ", " + (offset + n) + ") are outside " + this + " of " + numel());
        return new Tensor(dtype, s, contiguousStrides(s), data.asSlice(offset * size, n * size), device);
    }

    /** A contiguous copy of this tensor on device (host to GPU, GPU to host, or between GPUs). */
    public Tensor to(Arena arena, Device target) {
        if (!isContiguous())
            throw new LowbitException(
                    "copy a contiguous tensor to another device, got strides " + Arrays.toString(strides));
        if (!data.scope().isAlive()) throw new LowbitException(this + "'s arena is already closed");
        Tensor out = allocate(arena, target, dtype, shape);
        long bytes = Math.multiplyExact(numel(), (long) dtype.byteSize());
        if (device.kind() == Device.Kind.CPU && target.kind() == Device.Kind.CPU)
            MemorySegment.copy(data, 0, out.data, 0, bytes);
        else Cuda.copy(out.data, target, data, device, bytes);
        return out;
    }

    /** This tensor if it is on the host, else a copy there (which waits for the GPU's work). */
    public Tensor onHost(Arena arena) {
        return device.kind() == Device.Kind.CPU ? this : to(arena, Device.CPU);
    }

    /** A host fp32 tensor holding a copy of values. */
    public static Tensor of(Arena arena, float[] values, long... shape) {
        Tensor t = allocate(arena, DType.F32, shape);
        if (values.length != t.numel())
            throw new LowbitException(values.length + " values do not fill shape " + Arrays.toString(shape));
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    /** A contiguous view of existing host memory; the segment must be large enough. */
    public static Tensor wrap(MemorySegment data, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        long bytes = Math.multiplyExact(count(s), (long) dtype.byteSize());
        if (data.byteSize() < bytes)
            throw new LowbitException("segment of " + data.byteSize() + " bytes is too small for " + dtype + " "
                    + Arrays.toString(s) + " (" + bytes + " bytes)");
        return new Tensor(dtype, s, contiguousStrides(s), data, Device.CPU);
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public int rank() {
        return shape.length;
    }

    public long[] strides() {
        return strides.clone();
    }

    public Device device() {
        return device;
    }

    public MemorySegment segment() {
        return data;
    }

    public long numel() {
        return count(shape);
    }

    public boolean isContiguous() {
        return Arrays.equals(strides, contiguousStrides(shape));
    }

    /** The same memory under another shape of equal element count (contiguous tensors only). */
    public Tensor reshape(long... newShape) {
        long[] s = checkShape(newShape);
        if (count(s) != numel())
            throw new LowbitException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(s));
        if (!isContiguous()) throw new LowbitException("reshape needs a contiguous tensor");
        return new Tensor(dtype, s, contiguousStrides(s), data, device);
    }

    /** The transpose of a 2-D tensor as a strided view (no copy). */
    public Tensor transpose() {
        if (rank() != 2) throw new LowbitException("transpose needs a 2-D tensor, got rank " + rank());
        return new Tensor(dtype, new long[] {shape[1], shape[0]}, new long[] {strides[1], strides[0]}, data, device);
    }

    public float getFloat(long... index) {
        requireHost("getFloat");
        long off = offset(index);
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, off);
            case F16 -> Float.float16ToFloat(data.getAtIndex(F16, off));
            case BF16 -> Float.intBitsToFloat((data.getAtIndex(F16, off) & 0xFFFF) << 16);
            default -> throw new LowbitException("getFloat on a " + dtype + " tensor");
        };
    }

    public void setFloat(float value, long... index) {
        requireHost("setFloat");
        long off = offset(index);
        switch (dtype) {
            case F32 -> data.setAtIndex(F32, off, value);
            case F16 -> data.setAtIndex(F16, off, Float.floatToFloat16(value));
            case BF16 -> data.setAtIndex(F16, off, bf16(value));
            default -> throw new LowbitException("setFloat on a " + dtype + " tensor");
        }
    }

    /** The elements in row-major order as floats. */
    public float[] toFloatArray() {
        requireHost("toFloatArray");
        float[] out = new float[Math.toIntExact(numel())];
        if (dtype == DType.F32 && isContiguous()) {
            MemorySegment.copy(data, F32, 0, out, 0, out.length);
            return out;
        }
        long[] idx = new long[rank()];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(idx);
            for (int d = rank() - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
        }
        return out;
    }

    /** A new contiguous tensor of another floating dtype holding the converted values. */
    public Tensor convertedTo(Arena arena, DType target) {
        requireHost("a dtype conversion");
        Tensor out = allocate(arena, target, shape);
        float[] values = toFloatArray();
        long[] idx = new long[rank()];
        for (float v : values) {
            out.setFloat(v, idx);
            for (int d = rank() - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
        }
        return out;
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + ", " + Arrays.toString(shape) + ", " + device + ")";
    }

    private void requireHost(String what) {
        if (device.kind() != Device.Kind.CPU)
            throw new LowbitException(what + " reads host memory, but " + this + " is on " + device
                    + "; copy it with to(arena, Device.CPU) first");
    }

    private long offset(long[] index) {
        if (index.length != shape.length)
            throw new LowbitException("index of rank " + index.length + " for a tensor of rank " + shape.length);
        long off = 0;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d])
                throw new LowbitException(
                        "index " + Arrays.toString(index) + " out of bounds for " + Arrays.toString(shape));
            off += index[d] * strides[d];
        }
        return off;
    }

    /** fp32 -> bf16, rounding to nearest even (NaN stays NaN). */
    public static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    private static long[] checkShape(long[] shape) {
        for (long d : shape)
            if (d <= 0) throw new LowbitException("tensor dimensions must be positive, got " + Arrays.toString(shape));
        return shape.clone();
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    private static long[] contiguousStrides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = acc;
            acc *= shape[d];
        }
        return s;
    }
}
