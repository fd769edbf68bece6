package dev.lowbit.fuzz;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.function.ThrowingConsumer;

/**
 * The fuzz loop: case i of a test draws its mutation from its own {@code SplittableRandom(seed *
 * 1,000,000 + i)}, so every run tries the same cases and a failing one is named (index and
 * mutation) and can be rerun alone with {@code -Dfuzz.case=i}. The first failing case ends the test.
 */
final class SeededCases {
    private SeededCases() {}

    /** Draws cases mutations (records, whose toString describes them) and checks each. */
    static <M> void run(
            String format, long seed, int cases, Function<SplittableRandom, M> draw, ThrowingConsumer<M> check) {
        int only = Integer.getInteger("fuzz.case", -1);
        assumeTrue(only < cases, () -> format + " has only " + cases + " cases, not case " + only);
        for (int i = Math.max(only, 0); i < (only >= 0 ? only + 1 : cases); i++) {
            M mutation = null;
            try {
                mutation = draw.apply(new SplittableRandom(seed * 1_000_000 + i));
                check.accept(mutation);
            } catch (Throwable t) {
                throw new AssertionError(
                        "%s case %d of seed %d (-Dfuzz.case=%d reruns it alone), mutation %s: %s"
                                .formatted(format, i, seed, i, mutation, t.getMessage()),
                        t);
            }
        }
    }
}
