package dev.lowbit.runtime.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.LongStream;

/**
 * Finds NaN or Inf in floating tensors at memory speed (a checkpoint of many GB is checked as it is
 * mapped): eight bytes at a time, a value is non-finite when its exponent bits are all ones, which
 * adding one unit of the exponent carries into the value's sign bit. Chunks run in parallel.
 */
public final class Finite {
    private static final long CHUNK = 16L << 20;
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;

    private Finite() {}

    /** The index of the first NaN or Inf of t (host, contiguous, F32 / F16 / BF16), or -1 when all are finite. */
    public static long firstNonFinite(Tensor t) {
        long[] masks = switch (t.dtype()) {
            case F32 -> new long[] {0x7F8000007F800000L, 0x0080000000800000L, 0x8000000080000000L};
            case F16 -> new long[] {0x7C007C007C007C00L, 0x0400040004000400L, 0x8000800080008000L};
            case BF16 -> new long[] {0x7F807F807F807F80L, 0x0080008000800080L, 0x8000800080008000L};
            default -> throw new IllegalArgumentException(t.dtype() + " is not a floating type");
        };
        MemorySegment data = t.segment();
        long bytes = t.numel() * t.dtype().byteSize(), chunks = (bytes + CHUNK - 1) / CHUNK;
        long chunk = LongStream.range(0, chunks)
                .parallel()
                .filter(c -> !finite(data, c * CHUNK, Math.min(bytes, (c + 1) * CHUNK), masks))
                .min()
                .orElse(-1);
        if (chunk < 0) return -1;
        long from = chunk * CHUNK / t.dtype().byteSize(),
                to = Math.min(t.numel(), from + CHUNK / t.dtype().byteSize());
        for (long i = from; i < to; i++) if (!Float.isFinite(valueAt(t, i))) return i;
        return -1;
    }

    private static boolean finite(MemorySegment data, long from, long to, long[] m) {
        long i = from, bad = 0;
        for (; i + 8 <= to; i += 8) bad |= ((data.get(WORD, i) & m[0]) + m[1]) & m[2];
        long tail = 0; // the last few bytes as a zero-padded word: zero lanes are finite
        for (long j = i; j < to; j++) tail |= (data.get(ValueLayout.JAVA_BYTE, j) & 0xFFL) << (8 * (j - i));
        return (bad | (((tail & m[0]) + m[1]) & m[2])) == 0;
    }

    /** Element i of t (F32, F16 or BF16, contiguous) as a float. */
    public static float valueAt(Tensor t, long i) {
        return switch (t.dtype()) {
            case F32 -> t.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            case F16 -> Float.float16ToFloat(t.segment().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            default ->
                Float.intBitsToFloat((t.segment().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xFFFF) << 16);
        };
    }
}
