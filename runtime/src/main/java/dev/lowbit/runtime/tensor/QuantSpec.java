package dev.lowbit.runtime.tensor;

import dev.lowbit.runtime.LowbitException;

/**
 * How to quantize a weight matrix: bit width, group size ({@link #PER_CHANNEL} for one group per
 * row), symmetric or asymmetric ranges, min-max or MSE-searched ranges, and the storage type of
 * the scales and zero points (F32 or F16).
 */
public record QuantSpec(int bits, int groupSize, boolean symmetric, Range range, DType scaleType) {
    /** Group size meaning "one group spanning the whole row". */
    public static final int PER_CHANNEL = -1;

    public enum Range {
        MINMAX,
        MSE
    }

    public QuantSpec {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 6 && bits != 8)
            throw new LowbitException(bits + "-bit weights are not supported: use 2, 3, 4, 6 or 8");
        if (groupSize != PER_CHANNEL && groupSize != 32 && groupSize != 64 && groupSize != 128 && groupSize != 256)
            throw new LowbitException(
                    "group size " + groupSize + " is not supported: use 32, 64, 128, 256 or per-channel");
        if (scaleType != DType.F32 && scaleType != DType.F16)
            throw new LowbitException("scales are stored as F32 or F16, not " + scaleType);
        if (range == null) throw new LowbitException("range mode is required (MINMAX or MSE)");
    }

    /** Asymmetric min-max ranges with fp32 scales: the usual RTN setting. */
    public static QuantSpec of(int bits, int groupSize) {
        return new QuantSpec(bits, groupSize, false, Range.MINMAX, DType.F32);
    }

    /** The group size for rows of k columns; throws unless the group divides k. */
    public int groupSizeFor(long k) {
        if (groupSize == PER_CHANNEL) {
            if (k > Integer.MAX_VALUE)
                throw new LowbitException("rows of " + k + " columns are too long for one group");
            return (int) k;
        }
        if (k % groupSize != 0)
            throw new LowbitException("group size " + groupSize + " does not divide the " + k
                    + " input features; choose a group size that divides it, or per-channel");
        return groupSize;
    }
}
