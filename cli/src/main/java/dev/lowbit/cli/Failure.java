package dev.lowbit.cli;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.IoReason;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * What the top of the CLI makes of an exception: one line (what failed, why, what to do) and an
 * exit code. The trace is printed only when asked for (--verbose, LOWBIT_DEBUG=1).
 */
record Failure(ExitCode exit, String line) {
    /** Classifies e, thrown by the command named. */
    static Failure of(Throwable e, String command) {
        Throwable t = unwrap(e);
        String prefix = command.isEmpty() || command.equals("lowbit") ? "lowbit: " : "lowbit " + command + ": ";
        IOException io = ioCause(t);
        if (t instanceof LowbitException) {
            ExitCode exit = io != null && IoReason.isSystemFailure(io) ? ExitCode.IO : ExitCode.BAD_INPUT;
            return new Failure(exit, prefix + oneLine(t.getMessage()));
        }
        if (io != null)
            return new Failure(
                    IoReason.isSystemFailure(io) ? ExitCode.IO : ExitCode.BAD_INPUT, prefix + oneLine(IoReason.of(io)));
        if (t instanceof OutOfMemoryError)
            return new Failure(
                    ExitCode.BAD_INPUT,
                    prefix + "out of memory (" + oneLine(t.getMessage())
                            + "): use a smaller model, context or batch, or give Java more heap "
                            + "(LOWBIT_JAVA_OPTS=-Xmx...)");
        return new Failure(
                ExitCode.INTERNAL,
                prefix + "internal error (" + t.getClass().getSimpleName()
                        + (t.getMessage() == null ? "" : ": " + oneLine(t.getMessage()))
                        + "); rerun with --verbose for the trace and report it");
    }

    /** Prints the line, and the trace when verbose. */
    int report(PrintWriter err, Throwable e, boolean verbose) {
        if (verbose) e.printStackTrace(err);
        err.println(line);
        err.flush();
        return exit.code;
    }

    /** The exception that says what went wrong, not the wrapper a thread pool or a stream put around it. */
    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException
                        || t instanceof ExecutionException
                        || t instanceof UncheckedIOException)
                && t.getCause() != null
                && !(t instanceof LowbitException)) t = t.getCause();
        return t;
    }

    private static IOException ioCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) if (c instanceof IOException io) return io;
        return null;
    }

    /** Messages are printed on one line: line breaks and runs of blanks become single spaces. */
    static String oneLine(String message) {
        return message == null || message.isBlank()
                ? "(no message)"
                : message.strip().replaceAll("\\s*\\R\\s*", "; ");
    }
}
