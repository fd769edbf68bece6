package dev.lowbit.methods;

import java.io.PrintStream;
import java.util.function.IntConsumer;

/**
 * A one-line progress bar for long runs: position, rate in tokens per second, ETA and a
 * caller-supplied status, redrawn in place on a terminal and printed every 5% elsewhere.
 */
public final class Progress {
    private final PrintStream out;
    private final String label;
    private final int total;
    private final int start;
    private final long t0 = System.nanoTime();
    private final boolean terminal = System.console() != null;
    private long tokens;
    private int lastPrinted = -1;

    public Progress(PrintStream out, String label, int total, int start) {
        this.out = out;
        this.label = label;
        this.total = total;
        this.start = start;
    }

    /** Reports that position done of total is reached, having processed newTokens more tokens (0: no rate shown). */
    public void step(int done, String status, long newTokens) {
        tokens += newTokens;
        double seconds = (System.nanoTime() - t0) / 1e9;
        double rate = tokens / Math.max(seconds, 1e-9);
        double eta = (total - done) * seconds / Math.max(1, done - start);
        int pct = (int) (100L * done / total);
        int width = 24, filled = (int) ((long) width * done / total);
        String line = String.format(
                "%s [%s%s] %d/%d %3d%% | %s%s | ETA %s",
                label,
                "#".repeat(filled),
                ".".repeat(width - filled),
                done,
                total,
                pct,
                status,
                tokens > 0 ? String.format(" | %,.0f tok/s", rate) : "",
                clock(eta));
        if (terminal) {
            out.print("\r" + line);
            out.flush();
        } else if (pct / 5 != lastPrinted / 5 || done == total) {
            out.println(line);
            lastPrinted = pct;
        }
    }

    /** A progress line for total windows (or sequences), told the count done after each; finished on the last. */
    public static IntConsumer windows(PrintStream out, String label, int total) {
        Progress p = new Progress(out, label, total, 0);
        return done -> {
            p.step(done, "window " + done, 0);
            if (done == total) p.done();
        };
    }

    public void done() {
        if (terminal) out.println();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600
                ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}
