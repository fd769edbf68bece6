package dev.lowbit.cli;

import dev.lowbit.runtime.kernels.cpu.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The read floor of a decode step: the best of a few timed reads of as many bytes as the step's
 * weights, summed as 64-bit words on liblowbit's threads (lb_cpu_read_sum), nothing else per byte.
 */
final class ReadFloorTimer {
    private static final int TRIES = 5;
    private static final long MAX_BYTES = 4L << 30; // larger weights: timed on this much, scaled

    private ReadFloorTimer() {}

    static double millis(long bytes) {
        long n = Math.max(8, Math.min(bytes, MAX_BYTES)) / 8 * 8;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(n, 64);
            buffer.fill((byte) 1); // touch every page before timing
            long best = Long.MAX_VALUE;
            for (int i = 0; i < TRIES; i++) {
                long t0 = System.nanoTime();
                Native.readSum(buffer);
                best = Math.min(best, System.nanoTime() - t0);
            }
            return best / 1e6 * ((double) bytes / n);
        }
    }
}
