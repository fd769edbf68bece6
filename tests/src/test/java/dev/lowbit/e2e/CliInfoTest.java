package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.cli.LowbitCli;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The CLI as a user runs it: {@code lowbit info} reports the real environment. */
class CliInfoTest {
    record Result(int code, String out) {}

    static Result run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            return new Result(LowbitCli.run(args), buf.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void infoReportsJdkSimdLibraryCudaAndBlas() {
        Result r = run("info");
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("JDK:       " + Runtime.version()), r.out());
        assertTrue(r.out().matches("(?s).*SIMD:      (SCALAR|AVX2|AVX512) in use.*"), r.out());
        assertTrue(r.out().matches("(?s).*liblowbit: /\\S+liblowbit\\.so, .*version \\d+\\.\\d+\\.\\d+.*"), r.out());
        assertTrue(r.out().matches("(?s).*CUDA:      (available|not available) — .*"), r.out());
        assertTrue(r.out().matches("(?s).*BLAS:      /\\S+.*"), r.out());
    }

    @Test
    void unknownCommandIsAUsageError() {
        assertEquals(2, run("no-such-command").code());
    }
}
