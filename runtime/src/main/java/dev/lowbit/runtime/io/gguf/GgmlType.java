package dev.lowbit.runtime.io.gguf;

/**
 * The ggml tensor types lowbit reads or writes in GGUF files, with their ids (ggml.h's enum
 * ggml_type, stable across releases), elements per block and bytes per block.
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q8_0(8, 32, 34),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    BF16(30, 1, 2);

    public final int id;
    public final int blockSize;
    public final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** The type with this id, or null where lowbit does not read it. */
    public static GgmlType ofId(long id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }

    /** Bytes of a row of n elements (n a multiple of the block size). */
    public long rowBytes(long n) {
        return n / blockSize * blockBytes;
    }

    public boolean isBlockQuantized() {
        return blockSize > 1;
    }
}
