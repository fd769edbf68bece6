package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The LLaMA forward pass against the double-precision reference, with and without the KV cache. */
class LlamaModelTest {
    static final LlamaConfig TINY = new LlamaConfig(16, 40, 2, 4, 2, 11, 16, 1e-5f, 10000f, false);

    static LlamaWeights randomWeights(Arena arena, LlamaConfig c, long seed) {
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) { // drawn in the order the tests' seeds were chosen for
            Tensor attentionNorm = norm(arena, rnd, c.dim()), q = mat(arena, rnd, c.dim(), c.dim());
            Tensor k = mat(arena, rnd, c.kvDim(), c.dim()), v = mat(arena, rnd, c.kvDim(), c.dim());
            Tensor o = mat(arena, rnd, c.dim(), c.dim());
            Tensor ffnNorm = norm(arena, rnd, c.dim()), gate = mat(arena, rnd, c.hiddenDim(), c.dim());
            Tensor down = mat(arena, rnd, c.dim(), c.hiddenDim()), up = mat(arena, rnd, c.hiddenDim(), c.dim());
            layers.add(new LlamaWeights.Layer(attentionNorm, ffnNorm, new Projections<>(q, k, v, o, gate, up, down)));
        }
        return new LlamaWeights(
                c,
                mat(arena, rnd, c.vocabSize(), c.dim()),
                layers,
                norm(arena, rnd, c.dim()),
                mat(arena, rnd, c.vocabSize(), c.dim()));
    }

    private static Tensor mat(Arena arena, Random rnd, int rows, int cols) {
        return Tensor.of(arena, TestData.gaussian(rnd, rows * cols, (float) (1 / Math.sqrt(cols))), rows, cols);
    }

    private static Tensor norm(Arena arena, Random rnd, int d) {
        float[] w = TestData.gaussian(rnd, d, 0.1f);
        for (int i = 0; i < d; i++) w[i] += 1f;
        return Tensor.of(arena, w, d);
    }

    @Test
    void prefillAndStepwiseDecodingMatchTheReference() {
        int[] tokens = {3, 10, 0, 7, 7, 2};
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = new LlamaModel(randomWeights(arena, TINY, 5));
            double[][] ref = LlamaRef.forward(model.weights(), tokens);
            float[] prefill =
                    model.forward(arena, tokens, model.newCache(arena)).toFloatArray();
            KvCache cache = model.newCache(arena);
            // two tokens at once, then one at a time: exercises pos0 > 0 with m > 1 and m = 1
            float[] first = model.forward(arena, new int[] {tokens[0], tokens[1]}, cache)
                    .toFloatArray();
            int v = TINY.vocabSize();
            for (int p = 0; p < tokens.length; p++) {
                float[] step = p < 2
                        ? Arrays.copyOfRange(first, p * v, p * v + v)
                        : model.forward(arena, new int[] {tokens[p]}, cache).toFloatArray();
                for (int j = 0; j < v; j++) {
                    assertEquals(ref[p][j], prefill[p * v + j], 1e-4, "prefill logit [" + p + ", " + j + "]");
                    assertEquals(ref[p][j], step[j], 1e-4, "stepwise logit [" + p + ", " + j + "]");
                }
            }
            assertEquals(tokens.length, cache.length());
        }
    }

    @Test
    void badTokensAndContextOverflowAreClearErrors() {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = new LlamaModel(randomWeights(arena, TINY, 6));
            LowbitException e = assertThrows(
                    LowbitException.class, () -> model.forward(arena, new int[] {1, 11}, model.newCache(arena)));
            assertTrue(e.getMessage().contains("token id 11 at 1 is outside the vocabulary [0, 11)"), e.getMessage());
            e = assertThrows(LowbitException.class, () -> model.forward(arena, new int[17], model.newCache(arena)));
            assertTrue(e.getMessage().contains("exceeds the context of 16"), e.getMessage());
        }
    }
}
