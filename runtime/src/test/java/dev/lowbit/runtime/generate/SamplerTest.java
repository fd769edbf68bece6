package dev.lowbit.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
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
}
