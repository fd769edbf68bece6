package dev.lowbit.fuzz;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import dev.lowbit.runtime.LowbitException;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * What fuzzed inputs did, per format: accepted, refused with lowbit's own exception (and a
 * non-empty one-line message), or anything else, which fails the case with its trace.
 */
final class Outcomes {
    private static final Map<String, Map<String, LongAdder>> COUNTS = new ConcurrentHashMap<>();

    private Outcomes() {}

    interface Case {
        void run() throws Exception;
    }

    /** A case that reports whether the input was refused (e.g. by an exit code) rather than by throwing. */
    interface Verdict {
        boolean refused() throws Exception;
    }

    /** Runs one fuzz case of format; only a LowbitException with a message may escape it. */
    static void check(String format, Case c) {
        check(format, () -> {
            c.run();
            return false;
        });
    }

    static void check(String format, Verdict c) {
        try {
            count(format, c.refused() ? "refused" : "accepted");
        } catch (LowbitException e) {
            String m = e.getMessage();
            assertFalse(m == null || m.isBlank(), "a LowbitException without a message");
            count(format, "refused");
        } catch (Throwable t) {
            count(format, "crashed");
            fail(format + ": " + t + " escaped instead of a LowbitException", t);
        }
    }

    static void count(String format, String what) {
        COUNTS.computeIfAbsent(format, f -> new ConcurrentHashMap<>())
                .computeIfAbsent(what, w -> new LongAdder())
                .increment();
    }

    /** One line per format: cases, accepted, refused, crashed, outputs left behind. */
    static void print(String format) {
        Map<String, LongAdder> c = new TreeMap<>(COUNTS.getOrDefault(format, Map.of()));
        long total = c.values().stream().mapToLong(LongAdder::sum).sum() - get(c, "left behind");
        System.out.printf(
                "fuzz %s: %,d cases, %,d accepted, %,d refused (a LowbitException or, for the CLI, a one-line error), %,d crashed, %,d outputs left behind%n",
                format, total, get(c, "accepted"), get(c, "refused"), get(c, "crashed"), get(c, "left behind"));
    }

    private static long get(Map<String, LongAdder> c, String k) {
        LongAdder a = c.get(k);
        return a == null ? 0 : a.sum();
    }
}
