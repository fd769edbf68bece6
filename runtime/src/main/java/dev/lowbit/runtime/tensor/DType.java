package dev.lowbit.runtime.tensor;

import dev.lowbit.runtime.LowbitException;

/** Element types. The packed INT2/INT3/INT4/INT6 types describe quantized codes (see {@link QuantizedTensor}). */
public enum DType {
    F32(32, 0),
    F16(16, 1),
    BF16(16, 2),
    I8(8, -1),
    U8(8, -1),
    I32(32, -1),
    INT2(2, -1),
    INT3(3, -1),
    INT4(4, -1),
    INT6(6, -1);

    private final int bits;
    private final int nativeCode;

    DType(int bits, int nativeCode) {
        this.bits = bits;
        this.nativeCode = nativeCode;
    }

    public int bits() {
        return bits;
    }

    /** Whole bytes per element; packed types have none. */
    public int byteSize() {
        if (isPacked()) throw new LowbitException(this + " is packed below a byte; use QuantizedTensor");
        return bits / 8;
    }

    public boolean isPacked() {
        return bits < 8;
    }

    /** lowbit.h's LB_DTYPE_* code for the floating types. */
    public int nativeCode() {
        if (nativeCode < 0) throw new LowbitException(this + " has no liblowbit dtype code");
        return nativeCode;
    }

    /** The packed code type for a weight bit width (8 bits -> U8). */
    public static DType codes(int bits) {
        return switch (bits) {
            case 2 -> INT2;
            case 3 -> INT3;
            case 4 -> INT4;
            case 6 -> INT6;
            case 8 -> U8;
            default -> throw new LowbitException("no code type for " + bits + "-bit weights (use 2, 3, 4, 6 or 8)");
        };
    }
}
