package dev.lowbit.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Non-finite logits are refused with a message instead of reaching the softmax and the nucleus (issue 21). */
class SamplerTest {
    @Test
    void nonFiniteLogitsAreRefusedAtEveryTemperature() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY})
            for (float temperature : new float[] {0, 0.8f}) {
                float[] logits = {0.5f, 1f, bad, -2f};
                LowbitException e = assertThrows(
                        LowbitException.class, () -> new Sampler(temperature, 0.95f, 1).next(logits, 0, 4));
                assertTrue(e.getMessage().contains("logit of " + bad + " (token 2)"), e.getMessage());
            }
    }

    @Test
    void finiteLogitsStillSample() {
        float[] logits = {9f, 0.5f, 1f, 7f, -2f}; // offset 1: tokens 0..3
        assertEquals(2, new Sampler(0, 1, 1).next(logits, 1, 4), "greedy is the argmax");
        for (int seed = 0; seed < 50; seed++) {
            int t = new Sampler(1, 0.95f, seed).next(logits, 1, 4);
            assertTrue(t >= 0 && t < 4, "token " + t);
        }
    }

    @Test
    void topKKeepsOnlyTheKMostLikelyTokens() {
        float[] logits = {2f, 1.9f, 1.8f, 1.7f, -1f};
        Set<Integer> seen = new HashSet<>();
        for (int seed = 0; seed < 200; seed++) {
            assertEquals(0, new Sampler(1, 1, 1, seed).next(logits, 0, 5), "top-1 is greedy");
            seen.add(new Sampler(5, 1, 2, seed).next(logits, 0, 5));
        }
        assertEquals(Set.of(0, 1), seen, "top-2 at a high temperature draws both, and only them");
        assertThrows(LowbitException.class, () -> new Sampler(1, 1, -1, 0));
    }
}
