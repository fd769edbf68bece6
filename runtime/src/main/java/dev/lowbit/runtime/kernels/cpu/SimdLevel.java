package dev.lowbit.runtime.kernels.cpu;

import dev.lowbit.runtime.LowbitException;

/** The CPU kernel variants liblowbit dispatches between at run time (lowbit.h LB_SIMD_*). */
public enum SimdLevel {
    SCALAR,
    AVX2,
    AVX512;

    public static SimdLevel of(int code) {
        if (code < 0 || code >= values().length)
            throw new LowbitException("unknown SIMD level " + code + " from liblowbit");
        return values()[code];
    }
}
