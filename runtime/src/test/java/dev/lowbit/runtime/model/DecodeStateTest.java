package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.ref.LlamaRef;
import java.lang.foreign.Arena;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decoding through a {@link DecodeState}: the logits of the double-precision reference, bit for bit
 * those of the per-call path for passes of the same length, and a prompt longer than the state's
 * rows run in chunks (causal attention over the cache: the same logits up to rounding).
 */
class DecodeStateTest {
    static final LlamaConfig SMALL = new LlamaConfig(32, 64, 2, 4, 2, 11, 16, 1e-5f, 10000f, false);
    private static final int[] TOKENS = {3, 10, 0, 7, 7, 2, 9, 1, 4};
    private static final int PROMPT = 6;

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = TestModels.Kind.class,
            names = {"FP32", "REASSEMBLED"})
    void chunkedPromptAndDecodingMatchTheReference(TestModels.Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, SMALL, 5, kind);
            double[][] ref =
                    LlamaRef.forward(model.weights(), TOKENS); // the dense weights: reassembly is exact up to rounding
            DecodeState state = model.newState(arena, 4);
            for (int p = PROMPT - 1; p < TOKENS.length; p++) {
                float[] got = (p == PROMPT - 1
                                ? model.forward(state, Arrays.copyOf(TOKENS, PROMPT))
                                : model.forward(state, new int[] {TOKENS[p]}))
                        .toFloatArray();
                assertEquals(p + 1, state.length());
                for (int j = 0; j < SMALL.vocabSize(); j++)
                    assertEquals(ref[p][j], got[j], 1e-4, kind + " logit [" + p + ", " + j + "]");
                assertArrayEquals(got, state.hostLogits(), "host copy of the last row");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(TestModels.Kind.class)
    void theStateGivesThePerCallLogitsBitForBit(TestModels.Kind kind) {
        for (int qkvBits : new int[] {16, 4})
            try (Arena arena = Arena.ofConfined()) {
                LlamaModel model = withQkvBits(TestModels.random(arena, SMALL, 7, kind), qkvBits);
                KvCache cache = model.newCache(arena);
                DecodeState state = model.newState(arena, PROMPT), chunked = model.newState(arena, 4);
                float[] all = model.forward(arena, Arrays.copyOf(TOKENS, PROMPT), cache)
                        .toFloatArray();
                float[] want = Arrays.copyOfRange(all, (PROMPT - 1) * SMALL.vocabSize(), PROMPT * SMALL.vocabSize());
                String what = kind + " qkv" + qkvBits;
                assertArrayEquals(
                        want,
                        model.forward(state, Arrays.copyOf(TOKENS, PROMPT)).toFloatArray(),
                        what + " prompt");
                assertClose(
                        want,
                        model.forward(chunked, Arrays.copyOf(TOKENS, PROMPT)).toFloatArray(),
                        what + " prompt in chunks of 4");
                for (int p = PROMPT; p < TOKENS.length; p++) {
                    int[] one = {TOKENS[p]};
                    want = model.forward(arena, one, cache).toFloatArray();
                    assertArrayEquals(want, model.forward(state, one).toFloatArray(), what + " decode at " + p);
                    assertClose(
                            want,
                            model.forward(chunked, one).toFloatArray(),
                            what + " decode at " + p + " after chunks");
                }
            }
    }

    /** A chunk's matrix products have fewer rows than one pass's, so their rounding may differ; nothing else does. */
    private static void assertClose(float[] want, float[] got, String what) {
        double scale = 0;
        for (float w : want) scale = Math.max(scale, Math.abs(w));
        for (int i = 0; i < want.length; i++)
            assertTrue(
                    Math.abs(want[i] - got[i]) <= 1e-5 * scale,
                    what + ": logit " + i + " is " + got[i] + ", one pass " + want[i]);
    }

    private static LlamaModel withQkvBits(LlamaModel m, int qkvBits) {
        return qkvBits == 16 ? m : new LlamaModel(m.weights(), (layer, p, w) -> m.linear(layer, p), qkvBits);
    }

    @Test
    void badInputIsAClearErrorBeforeAnythingRuns() {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, SMALL, 6, TestModels.Kind.FP32);
            DecodeState state = model.newState(arena, 2);
            LowbitException e = assertThrows(LowbitException.class, state::logits);
            assertTrue(e.getMessage().contains("no tokens have run"), e.getMessage());
            e = assertThrows(LowbitException.class, () -> model.forward(state, new int[] {1, 2, 3, 11}));
            assertTrue(e.getMessage().contains("token id 11 at 3 is outside the vocabulary [0, 11)"), e.getMessage());
            assertEquals(0, state.length(), "the first chunk did not run");
            model.forward(state, new int[10]);
            e = assertThrows(LowbitException.class, () -> model.forward(state, new int[7]));
            assertTrue(e.getMessage().contains("sequence of 17 tokens exceeds the context of 16"), e.getMessage());
            assertEquals(10, state.length());
            state.clear();
            assertEquals(0, state.length());
            assertThrows(LowbitException.class, () -> model.forward(state, new int[0]));
            LlamaModel other = TestModels.random(arena, SMALL, 6, TestModels.Kind.FP32);
            e = assertThrows(LowbitException.class, () -> other.forward(state, new int[] {1}));
            assertTrue(e.getMessage().contains("belongs to another model"), e.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 17})
    void aStateRunsOneToTheContextsTokensAPass(int rows) {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, SMALL, 6, TestModels.Kind.FP32);
            LowbitException e = assertThrows(LowbitException.class, () -> model.newState(arena, rows));
            assertTrue(e.getMessage().contains("runs 1 to 16 tokens a pass, got " + rows), e.getMessage());
        }
    }
}
