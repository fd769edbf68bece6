package dev.lowbit.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.engine.Completion.FinishReason;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.KvDtype;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.QuantSpec;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine on the default model: greedy output equals {@link Generator}'s (one sequence, its own
 * fp32 cache), and every request's tokens are the same alone or batched with others of other
 * lengths, greedy and seeded sampling, fp32 and W4A8; cancellation, the queue bound, stop strings
 * and token ids, and bad requests.
 */
class LowbitEngineTest {
    static final Path DEFAULT =
            Path.of("..", "models", "default").toAbsolutePath().normalize();
    private static Arena arena;
    private static ModelFiles.Loaded loaded;
    private static LlamaModel w4a8;

    @BeforeAll
    static void load() {
        Assumptions.assumeTrue(
                Files.isRegularFile(DEFAULT.resolve("model.safetensors")), "the default model is missing: " + DEFAULT);
        arena = Arena.ofShared();
        loaded = ModelFiles.open(DEFAULT.toString(), arena);
        // round-to-nearest W4 (group 128) with per-token int8 activations, as ./lowbit quantize --method rtn --wbits 4
        // --abits 8
        w4a8 = new LlamaModel(
                loaded.weights(),
                (layer, p, w) -> new Linear.ActQuantized(Kernels.quantize(arena, w, QuantSpec.of(4, 128)), 8));
    }

    @AfterAll
    static void free() {
        if (arena != null) arena.close();
    }

    private static LowbitEngine engine(LlamaModel model, KvDtype dtype, int maxBatch) {
        return LowbitEngine.builder()
                .model(model, loaded.tokenizer())
                .maxBatch(maxBatch)
                .kvDtype(dtype)
                .build();
    }

    private int[] prompt(String text) {
        return new Generator(loaded.model(), loaded.tokenizer()).promptIds(text);
    }

    private static Completion run(InferenceEngine engine, int[] prompt, SamplingParams params) {
        return engine.submit(prompt, params, new Collect()).result().join();
    }

    @Test
    void greedyOutputIsTheGeneratorsWithAnFp32Cache() {
        int[] p = prompt("Once upon a time");
        int[] want = new Generator(loaded.model(), loaded.tokenizer())
                .generate(p, new Generator.Options(40, 0, 1, 0, -1), null);
        try (LowbitEngine engine = engine(loaded.model(), KvDtype.F32, 4)) {
            Completion c = run(engine, p, SamplingParams.greedy(40));
            assertArrayEquals(want, c.tokens());
            assertEquals(FinishReason.LENGTH, c.reason());
            assertEquals(p.length, c.promptTokens());
            assertEquals(loaded.tokenizer().orElseThrow().decode(want), c.text());
        }
    }

    @Test
    void requestsGetTheSameTokensAloneOrBatchedFp32() throws Exception {
        sameAloneOrBatched(loaded.model(), KvDtype.F16);
    }

    @Test
    void requestsGetTheSameTokensAloneOrBatchedW4a8() throws Exception {
        sameAloneOrBatched(w4a8, KvDtype.INT8);
    }

    private void sameAloneOrBatched(LlamaModel model, KvDtype dtype) throws Exception {
        String[] texts = {
            "Once upon a time",
            "The little dog",
            "A",
            "She went to the park with her mother and they saw a big red ball that",
            "Tom"
        };
        List<int[]> prompts = new ArrayList<>();
        List<SamplingParams> params = new ArrayList<>();
        for (int i = 0; i < 2 * texts.length; i++) {
            int[] p = prompt(texts[i % texts.length]);
            prompts.add(
                    i == 3
                            ? Arrays.copyOf(
                                    Arrays.stream(new int[10])
                                            .flatMap(x -> Arrays.stream(p))
                                            .toArray(),
                                    150)
                            : p); // 150: three chunks
            params.add(
                    i % 2 == 0
                            ? SamplingParams.greedy(20 + 3 * i)
                            : new SamplingParams(
                                    25 + i, 0.9f, 0.9f, i % 3 == 0 ? 0 : 20, 100 + i, List.of(), new int[0]));
        }
        List<Completion> alone = new ArrayList<>();
        try (LowbitEngine engine = engine(model, dtype, 1)) {
            for (int i = 0; i < prompts.size(); i++) alone.add(run(engine, prompts.get(i), params.get(i)));
        }
        try (LowbitEngine engine = engine(model, dtype, 6)) {
            List<Submission> subs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++)
                subs.add(engine.submit(prompts.get(i), params.get(i), new Collect()));
            for (int i = 0; i < subs.size(); i++) {
                Completion c = subs.get(i).result().get(120, TimeUnit.SECONDS);
                assertArrayEquals(alone.get(i).tokens(), c.tokens(), "request " + i + " batched");
                assertEquals(alone.get(i).text(), c.text());
            }
            assertEquals(engine.stats().kvBlocksTotal(), engine.stats().kvBlocksFree());
        }
    }

    @Test
    void streamedTextAddsUpAndStopsCutIt() {
        try (LowbitEngine engine = engine(loaded.model(), KvDtype.F16, 2)) {
            int[] p = prompt("Once upon a time");
            Collect sink = new Collect();
            Completion full =
                    engine.submit(p, SamplingParams.greedy(60), sink).result().join();
            assertEquals(full.text(), sink.text.toString(), "the onToken texts add up to the completion's");
            assertEquals(full.generatedTokens(), sink.tokens.size());
            String stop = full.text().substring(20, 24);
            int cut = full.text().indexOf(stop);
            Collect stopped = new Collect();
            Completion c = engine.submit(
                            p, new SamplingParams(60, 0, 1, 0, 0, List.of("zzzq", stop), new int[0]), stopped)
                    .result()
                    .join();
            assertEquals(full.text().substring(0, cut), c.text());
            assertEquals(c.text(), stopped.text.toString());
            assertEquals(FinishReason.STOP, c.reason());
            int stopId = full.tokens()[5];
            int at = Arrays.stream(full.tokens()).boxed().toList().indexOf(stopId);
            Completion byId = run(engine, p, SamplingParams.greedy(60, 9999, stopId));
            assertArrayEquals(Arrays.copyOf(full.tokens(), at + 1), byId.tokens(), "ends at the stop id, counted");
            assertEquals(FinishReason.STOP, byId.reason());
            assertEquals(loaded.tokenizer().orElseThrow().decode(Arrays.copyOf(full.tokens(), at)), byId.text());
        }
    }

    @Test
    void cancellingFreesTheBlocksAndAFullQueueIsBusy() throws Exception {
        try (LowbitEngine engine = LowbitEngine.builder()
                .model(loaded.model(), loaded.tokenizer())
                .maxBatch(1)
                .queueLimit(1)
                .build()) {
            int total = engine.stats().kvBlocksFree();
            CountDownLatch first = new CountDownLatch(1), release = new CountDownLatch(1);
            Collect holding = new Collect() {
                @Override
                public void onToken(int token, String text) {
                    super.onToken(token, text);
                    first.countDown();
                    try {
                        release.await(); // holds the scheduler inside this request's step
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
            };
            int[] p = prompt("Once upon a time");
            Submission running = engine.submit(p, SamplingParams.greedy(200), holding);
            assertTrue(first.await(60, TimeUnit.SECONDS));
            assertTrue(engine.stats().kvBlocksFree() < total, "the running request holds blocks");
            Submission queued = engine.submit(p, SamplingParams.greedy(5), new Collect());
            EngineBusyException busy = assertThrows(
                    EngineBusyException.class, () -> engine.submit(p, SamplingParams.greedy(5), new Collect()));
            assertTrue(busy.getMessage().contains("queue is full"), busy.getMessage());
            assertEquals(1, engine.stats().queued());
            running.cancel();
            release.countDown();
            Completion c = running.result().get(60, TimeUnit.SECONDS);
            assertEquals(FinishReason.CANCELLED, c.reason());
            assertTrue(c.generatedTokens() < 200);
            assertEquals(
                    FinishReason.LENGTH,
                    queued.result().get(60, TimeUnit.SECONDS).reason());
            assertEquals(total, engine.stats().kvBlocksFree(), "every block back in the pool");
            Submission late = engine.submit(p, SamplingParams.greedy(200), new Collect());
            engine.close();
            assertEquals(
                    FinishReason.CANCELLED,
                    late.result().get(60, TimeUnit.SECONDS).reason(),
                    "close cancels");
            assertThrows(LowbitException.class, () -> engine.submit(p, SamplingParams.greedy(5), new Collect()));
        }
    }

    @Test
    void badRequestsAreRefusedWithAMessage() {
        try (LowbitEngine engine = engine(loaded.model(), KvDtype.F16, 2)) {
            int ctx = engine.contextLength();
            assertTrue(message(() -> engine.submit(new int[0], SamplingParams.greedy(5), new Collect()))
                    .contains("at least one token"));
            assertTrue(message(() -> engine.submit(new int[] {1, 2}, SamplingParams.greedy(ctx), new Collect()))
                    .contains("exceeds the context"));
            assertTrue(message(() -> engine.submit(new int[] {1, 5000}, SamplingParams.greedy(5), new Collect()))
                    .contains("outside the vocabulary"));
            assertTrue(message(() -> SamplingParams.greedy(0)).contains("max_tokens"));
        }
    }

    private static String message(Runnable r) {
        return assertThrows(LowbitException.class, r::run).getMessage();
    }

    /** Keeps what a request streams. */
    static class Collect implements TokenSink {
        final List<Integer> tokens = new ArrayList<>();
        final StringBuilder text = new StringBuilder();

        @Override
        public void onToken(int token, String piece) {
            tokens.add(token);
            text.append(piece);
        }

        @Override
        public void onFinish(Completion completion) {}

        @Override
        public void onError(LowbitException error) {}
    }
}
