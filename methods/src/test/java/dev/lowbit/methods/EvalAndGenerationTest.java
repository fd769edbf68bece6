package dev.lowbit.methods;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.generate.Sampler;
import dev.lowbit.runtime.io.Llama2cCheckpoint;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Perplexity and KL against the reference forward; sampling; concurrent generation. */
class EvalAndGenerationTest {
    static final LlamaConfig TINY = new LlamaConfig(16, 24, 2, 4, 2, 13, 32, 1e-5f, 10000f, true);
    static final Path STORIES =
            Path.of(System.getProperty("lowbit.shared.dir", "../../shared"), "models", "stories260K.bin");

    @Test
    void perplexityAndKlMatchTheReferenceForward() {
        Random rnd = new Random(8);
        int[] tokens = new int[3 * 8 + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(TINY.vocabSize());
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters a = LlamaParameters.initialize(arena, TINY, 1),
                    b = LlamaParameters.initialize(arena, TINY, 1);
            for (long i = 0; i < b.flat().numel(); i += 7) // perturb b
            b.flat()
                        .segment()
                        .setAtIndex(
                                ValueLayout.JAVA_FLOAT,
                                i,
                                b.flat().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i) * 3f);
            double nll = 0, kl = 0;
            long agree = 0;
            List<int[]> windows = new ArrayList<>();
            for (int w = 0; w < 3; w++) {
                int[] in = Arrays.copyOfRange(tokens, w * 8, w * 8 + 8);
                windows.add(in);
                double[][] la = LlamaRef.forward(a.weights(), in), lb = LlamaRef.forward(b.weights(), in);
                for (int i = 0; i < 8; i++) {
                    double[] pa = LlamaRef.logSoftmax(la[i]), pb = LlamaRef.logSoftmax(lb[i]);
                    nll -= pa[tokens[w * 8 + i + 1]];
                    for (int j = 0; j < pa.length; j++) kl += Math.exp(pa[j]) * (pa[j] - pb[j]);
                    if (argmax(pa) == argmax(pb)) agree++;
                }
            }
            Perplexity.Result p = Perplexity.evaluate(new LlamaModel(a.weights()), tokens, 8, 100);
            assertEquals(24, p.tokensScored());
            assertEquals(Math.exp(nll / 24), p.perplexity(), 1e-4 * p.perplexity());
            KlDivergence.Result k =
                    KlDivergence.evaluate(new LlamaModel(a.weights()), new LlamaModel(b.weights()), windows);
            assertEquals(kl / 24, k.meanKl(), 1e-4);
            assertEquals(agree / 24.0, k.top1Agreement(), 1e-12);
            KlDivergence.Result self =
                    KlDivergence.evaluate(new LlamaModel(a.weights()), new LlamaModel(a.weights()), windows);
            assertEquals(0, self.meanKl(), 1e-6);
            assertEquals(1, self.top1Agreement());
        }
    }

    private static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    @Test
    void samplerIsGreedyAtZeroTemperatureAndFollowsTheSoftmaxOtherwise() {
        float[] logits = {0f, 1f, 2f, -1f};
        assertEquals(2, new Sampler(0f, 1f, 1).next(logits, 0, 4));
        assertEquals(2, new Sampler(1f, 0.01f, 1).next(logits, 0, 4), "a tiny nucleus keeps only the top token");
        Sampler s = new Sampler(1f, 1f, 7);
        int[] counts = new int[4];
        int n = 40000;
        for (int i = 0; i < n; i++) counts[s.next(logits, 0, 4)]++;
        double z = Math.exp(0) + Math.exp(1) + Math.exp(2) + Math.exp(-1);
        for (int i = 0; i < 4; i++)
            assertEquals(Math.exp(logits[i]) / z, counts[i] / (double) n, 0.01, "frequency of token " + i);
    }

    /** Generations running concurrently on one shared model equal the same generations run alone. */
    @Test
    void concurrentGenerationsEqualSequentialOnes() throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        try (Arena arena = Arena.ofShared()) {
            Generator g = new Generator(new LlamaModel(Llama2cCheckpoint.load(STORIES, arena)), Optional.empty());
            int requests = 6;
            int[][] alone = new int[requests][];
            for (int r = 0; r < requests; r++)
                alone[r] = g.generate(new int[] {1, 3 + r}, new Generator.Options(40, 0.9f, 0.95f, r, -1), null);
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<int[]>> futures = new ArrayList<>();
                for (int r = 0; r < requests; r++) {
                    int id = r;
                    futures.add(pool.submit(() ->
                            g.generate(new int[] {1, 3 + id}, new Generator.Options(40, 0.9f, 0.95f, id, -1), null)));
                }
                for (int r = 0; r < requests; r++)
                    assertArrayEquals(alone[r], futures.get(r).get(), "request " + r);
            } finally {
                pool.shutdown();
            }
            assertTrue(alone[0].length == 40);
        }
    }
}
