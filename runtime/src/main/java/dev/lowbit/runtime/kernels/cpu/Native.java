package dev.lowbit.runtime.kernels.cpu;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.bindings.lowbit.lowbit_h;
import dev.lowbit.runtime.LowbitException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/** liblowbit itself: loading, status checks, version and CPU dispatch settings. */
public final class Native {
    private static final Path LIBRARY = NativeLibraries.loadLowbit();

    private Native() {}

    /** Loads liblowbit (class initialisation does it); call before using the bindings directly. */
    public static void ensureLoaded() {}

    /** Throws a {@link LowbitException} with liblowbit's message if status is not LB_OK. */
    public static void check(int status, String operation) {
        if (status != lowbit_h.LB_OK()) {
            String message = lowbit_h.lb_last_error().reinterpret(4096).getString(0);
            throw new LowbitException(status, operation + " failed (" + statusName(status) + "): " + message);
        }
    }

    /** What an lb_status means, in words. */
    public static String statusName(int status) {
        if (status == lowbit_h.LB_ERR_INVALID_ARGUMENT()) return "invalid argument";
        if (status == lowbit_h.LB_ERR_UNSUPPORTED()) return "unsupported";
        if (status == lowbit_h.LB_ERR_NON_FINITE()) return "non-finite input";
        if (status == lowbit_h.LB_ERR_RANGE()) return "out of range";
        if (status == lowbit_h.LB_ERR_OUT_OF_MEMORY()) return "out of memory";
        if (status == lowbit_h.LB_ERR_CUDA()) return "CUDA error";
        return "status " + status;
    }

    public static Path libraryPath() {
        return LIBRARY;
    }

    public static String version() {
        return lowbit_h.lb_version().reinterpret(64).getString(0);
    }

    public static SimdLevel simdLevel() {
        return SimdLevel.of(lowbit_h.lb_cpu_simd_level());
    }

    public static SimdLevel maxSimdLevel() {
        return SimdLevel.of(lowbit_h.lb_cpu_simd_level_max());
    }

    /** Lowers (or restores) the SIMD level the CPU kernels use; process-wide. */
    public static void setSimdLevel(SimdLevel level) {
        check(lowbit_h.lb_cpu_set_simd_level(level.ordinal()), "set SIMD level " + level);
    }

    /**
     * Reads the buffer once on the kernels' threads and returns the sum of its 64-bit words
     * (wrapping): the benchmarks' read-bandwidth floor. The buffer must be native memory of whole
     * 64-bit words.
     */
    public static long readSum(MemorySegment words) {
        if (!words.isNative() || words.byteSize() % 8 != 0)
            throw new LowbitException("readSum needs native memory of whole 64-bit words, got "
                    + (words.isNative() ? "" : "heap memory of ") + words.byteSize() + " bytes");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sum = arena.allocate(ValueLayout.JAVA_LONG);
            check(lowbit_h.lb_cpu_read_sum(words, words.byteSize() / 8, sum), "read sum");
            return sum.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    public static int threads() {
        return lowbit_h.lb_cpu_num_threads();
    }

    public static void setThreads(int threads) {
        check(lowbit_h.lb_cpu_set_num_threads(threads), "set threads");
    }
}
