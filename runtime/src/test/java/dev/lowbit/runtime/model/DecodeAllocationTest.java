package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Decoding allocates nothing after the first token: {@link Tensor#allocationCount()} read as each
 * token is chosen stays where it was at the first, for every kind of linear layer.
 */
class DecodeAllocationTest {
    static final int TOKENS = 10;

    @ParameterizedTest(name = "{0}")
    @EnumSource(TestModels.Kind.class)
    void generationAllocatesNothingPerToken(TestModels.Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, DecodeStateTest.SMALL, 11, kind);
            assertNoAllocationAfterTheFirstToken(model, kind.toString());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = TestModels.Kind.class,
            names = {"FP32", "W4A8"})
    void decodingThroughAStateAllocatesNothing(TestModels.Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, DecodeStateTest.SMALL, 12, kind);
            DecodeState state = model.newState(arena, 4);
            int[] token = {2};
            model.forward(state, new int[] {1, 5, 9, 3, 7});
            long before = Tensor.allocationCount();
            for (int i = 0; i < TOKENS; i++) {
                model.forward(state, token);
                token[0] = (token[0] + 3) % model.config().vocabSize();
            }
            state.hostLogits();
            assertEquals(before, Tensor.allocationCount(), kind + ": tensors allocated by " + TOKENS + " decode steps");
        }
    }

    /** Generates TOKENS tokens with sampling and checks the count is the same at every token after the first. */
    static void assertNoAllocationAfterTheFirstToken(LlamaModel model, String what) {
        List<Long> counts = new ArrayList<>();
        Generator.Options sampled = new Generator.Options(TOKENS, 0.8f, 0.9f, 3, -1);
        int[] got = new Generator(model, Optional.empty())
                .generate(new int[] {1, 9, 4}, sampled, t -> counts.add(Tensor.allocationCount()));
        assertEquals(TOKENS, got.length, what + ": tokens generated");
        for (int i = 1; i < TOKENS; i++)
            assertEquals(
                    counts.get(0), counts.get(i), what + ": tensors allocated between the first and token " + (i + 1));
    }
}
