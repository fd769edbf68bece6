package dev.lowbit.runtime.tensor;

import com.sun.management.OperatingSystemMXBean;
import dev.lowbit.runtime.LowbitException;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Sizes of large host allocations, checked against the machine's memory before they are made:
 * an allocation that cannot fit is refused with its size and what to change, instead of an
 * OutOfMemoryError from deep inside the allocator.
 */
public final class HostMemory {
    private HostMemory() {}

    /** The machine's physical memory in bytes (Long.MAX_VALUE where the JVM cannot tell). */
    public static long total() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof OperatingSystemMXBean os) {
            long total = os.getTotalMemorySize();
            if (total > 0) return total;
        }
        return Long.MAX_VALUE;
    }

    /** Refuses bytes for what (e.g. "the KV cache") when they exceed the machine's memory; remedy says what to change. */
    public static void require(String what, long bytes, String remedy) {
        long total = total();
        if (bytes < 0 || bytes > total)
            throw new LowbitException(what + " needs " + size(bytes) + ", more than this machine's " + size(total)
                    + " of memory: " + remedy);
    }

    /** a * b * ..., or -1 when the product overflows a long. */
    public static long product(long... factors) {
        long p = 1;
        try {
            for (long f : factors) p = Math.multiplyExact(p, f);
        } catch (ArithmeticException e) {
            return -1;
        }
        return p;
    }

    public static String size(long bytes) {
        if (bytes < 0) return "more than 9.2 EB";
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
