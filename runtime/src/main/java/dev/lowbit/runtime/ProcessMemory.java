package dev.lowbit.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's memory from /proc/self/status: the peak resident set (VmHWM, which counts pages
 * of memory-mapped checkpoints too) and the peak of its anonymous part (RssAnon: heap and native
 * allocations, what a run really costs). The kernel keeps no peak of RssAnon, so {@link #start}
 * samples it on a daemon thread every few milliseconds. -1 where /proc is unavailable.
 */
public final class ProcessMemory {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final long SAMPLE_MS = 5;
    private static volatile long peakAnonKb = -1;
    private static Thread sampler;

    private ProcessMemory() {}

    /** Starts sampling (once per process; later calls do nothing). */
    public static synchronized void start() {
        if (sampler != null) return;
        sampler = Thread.ofPlatform().daemon().name("lowbit-memory").start(() -> {
            while (true) {
                long anon = field("RssAnon:");
                if (anon > peakAnonKb) peakAnonKb = anon;
                try {
                    Thread.sleep(SAMPLE_MS);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    /** The largest anonymous resident memory seen since {@link #start}, in MB (one last sample included). */
    public static double peakAnonMb() {
        long now = field("RssAnon:");
        long peak = Math.max(peakAnonKb, now);
        return peak < 0 ? -1 : peak / 1024.0;
    }

    /** The peak resident memory (VmHWM) in MB, file-backed pages included. */
    public static double peakRssMb() {
        long kb = field("VmHWM:");
        return kb < 0 ? -1 : kb / 1024.0;
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(STATUS))
                if (line.startsWith(name)) return Long.parseLong(line.replaceAll("\\D", ""));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
