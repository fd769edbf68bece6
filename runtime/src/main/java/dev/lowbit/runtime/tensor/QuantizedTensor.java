package dev.lowbit.runtime.tensor;

import dev.lowbit.bindings.lowbit.lb_qweight;
import dev.lowbit.runtime.LowbitException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A group-quantized weight matrix W [n, k] in lowbit's layout (see lowbit.h): codes packed as one
 * little-endian bit stream per row in uint32 words, a scale and an integer zero point per (row,
 * group), w = scale * (q - zero). Owns the lb_qweight descriptor passed to the kernels.
 */
public final class QuantizedTensor {
    private final Tensor codes;
    private final Tensor scales;
    private final Tensor zeros;
    private final int bits;
    private final int groupSize;
    private final MemorySegment descriptor;

    private QuantizedTensor(Arena arena, Tensor codes, Tensor scales, Tensor zeros, int bits, int groupSize, long k) {
        this.codes = codes;
        this.scales = scales;
        this.zeros = zeros;
        this.bits = bits;
        this.groupSize = groupSize;
        this.descriptor = lb_qweight.allocate(arena);
        lb_qweight.codes(descriptor, codes.segment());
        lb_qweight.scales(descriptor, scales.segment());
        lb_qweight.zeros(descriptor, zeros.segment());
        lb_qweight.n(descriptor, codes.dim(0));
        lb_qweight.k(descriptor, k);
        lb_qweight.bits(descriptor, bits);
        lb_qweight.group_size(descriptor, groupSize);
        lb_qweight.scale_dtype(descriptor, scales.dtype().nativeCode());
        lb_qweight.reserved(descriptor, 0);
    }

    /** Zeroed storage for an [n, k] matrix quantized as spec says. */
    public static QuantizedTensor allocate(Arena arena, long n, long k, QuantSpec spec) {
        return allocate(arena, Device.CPU, n, k, spec);
    }

    /** Zeroed storage for an [n, k] matrix quantized as spec says, on device. */
    public static QuantizedTensor allocate(Arena arena, Device device, long n, long k, QuantSpec spec) {
        if (n <= 0 || k <= 0) throw new LowbitException("weight shape [" + n + ", " + k + "] must be positive");
        int g = spec.groupSizeFor(k);
        Tensor codes = Tensor.allocate(arena, device, DType.I32, n, wordsPerRow(k, spec.bits()));
        Tensor scales = Tensor.allocate(arena, device, spec.scaleType(), n, k / g);
        Tensor zeros = Tensor.allocate(arena, device, spec.scaleType(), n, k / g);
        return new QuantizedTensor(arena, codes, scales, zeros, spec.bits(), g, k);
    }

    /** A copy of this matrix on device. */
    public QuantizedTensor to(Arena arena, Device device) {
        return new QuantizedTensor(
                arena,
                codes.to(arena, device),
                scales.to(arena, device),
                zeros.to(arena, device),
                bits,
                groupSize,
                cols());
    }

    /** Wraps existing codes [n, words], scales and zeros [n, k / groupSize] after checking their shapes. */
    public static QuantizedTensor of(
            Arena arena, Tensor codes, Tensor scales, Tensor zeros, long k, int bits, int groupSize) {
        QuantSpec.of(bits, groupSize == k ? QuantSpec.PER_CHANNEL : groupSize).groupSizeFor(k);
        if (!scales.device().equals(codes.device()) || !zeros.device().equals(codes.device()))
            throw new LowbitException("codes, scales and zeros must be on one device, got " + codes.device() + ", "
                    + scales.device() + ", " + zeros.device());
        if (codes.dtype() != DType.I32 || codes.rank() != 2 || !codes.isContiguous())
            throw new LowbitException("codes must be a contiguous I32 [n, words] tensor, got " + codes);
        long n = codes.dim(0);
        if (codes.dim(1) != wordsPerRow(k, bits))
            throw new LowbitException("codes have " + codes.dim(1) + " words per row; " + bits + "-bit rows of " + k
                    + " codes need " + wordsPerRow(k, bits));
        long[] groupShape = {n, k / groupSize};
        for (Tensor t : new Tensor[] {scales, zeros}) {
            if (!Arrays.equals(t.shape(), groupShape) || !t.isContiguous())
                throw new LowbitException(
                        "scales and zeros must be contiguous " + Arrays.toString(groupShape) + ", got " + t);
            if (t.dtype() != DType.F32 && t.dtype() != DType.F16)
                throw new LowbitException("scales and zeros must be F32 or F16, got " + t.dtype());
        }
        if (scales.dtype() != zeros.dtype()) throw new LowbitException("scales and zeros must share a dtype");
        return new QuantizedTensor(arena, codes, scales, zeros, bits, groupSize, k);
    }

    public static long wordsPerRow(long k, int bits) {
        return (k * bits + 31) / 32;
    }

    public Tensor codes() {
        return codes;
    }

    public Tensor scales() {
        return scales;
    }

    public Tensor zeros() {
        return zeros;
    }

    public int bits() {
        return bits;
    }

    /** The actual group size (k for per-channel). */
    public int groupSize() {
        return groupSize;
    }

    public long rows() {
        return codes.dim(0);
    }

    public long cols() {
        return lb_qweight.k(descriptor);
    }

    public DType codeType() {
        return DType.codes(bits);
    }

    public Device device() {
        return codes.device();
    }

    /** Code j of row r, unpacked from the bit stream. */
    public int code(long r, long j) {
        if (device().kind() != Device.Kind.CPU)
            throw new LowbitException("code(r, j) reads host memory; " + this + " is on " + device());
        long bit = j * bits;
        long word = r * codes.dim(1) + (bit >>> 5);
        long lo = Integer.toUnsignedLong(codes.segment().getAtIndex(ValueLayout.JAVA_INT, word));
        int off = (int) (bit & 31);
        if (off + bits > 32)
            lo |= Integer.toUnsignedLong(codes.segment().getAtIndex(ValueLayout.JAVA_INT, word + 1)) << 32;
        return (int) (lo >>> off) & ((1 << bits) - 1);
    }

    /** Bytes the kernels read: codes, scales and zeros. */
    public long byteSize() {
        return codes.numel() * 4
                + (scales.numel() + zeros.numel()) * scales.dtype().byteSize();
    }

    public MemorySegment descriptor() {
        return descriptor;
    }

    @Override
    public String toString() {
        return "QuantizedTensor(" + bits + "-bit, g" + groupSize + ", [" + rows() + ", " + cols() + "], "
                + scales.dtype() + " scales" + (device().kind() == Device.Kind.CPU ? "" : ", " + device()) + ")";
    }
}
