package dev.lowbit.runtime.model;

import dev.lowbit.runtime.tensor.DType;

/**
 * How a {@link KvBlockPool} stores keys and values: fp16 or bf16 (the default of serving engines),
 * int8 with one fp32 scale per token and key/value head (symmetric, as KIVI and vLLM's fp8/int8
 * caches keep a scale per head), or fp32 (exact: the reference the others are compared to).
 */
public enum KvDtype {
    F16(DType.F16),
    BF16(DType.BF16),
    INT8(DType.I8),
    F32(DType.F32);

    private final DType stored;

    KvDtype(DType stored) {
        this.stored = stored;
    }

    DType stored() {
        return stored;
    }

    /** Bytes one position of one layer takes for keys or values of kvDim = kvHeads * headDim features. */
    long bytesPerRow(int kvHeads, int kvDim) {
        return (long) kvDim * stored.byteSize() + (this == INT8 ? (long) kvHeads * Float.BYTES : 0);
    }
}
