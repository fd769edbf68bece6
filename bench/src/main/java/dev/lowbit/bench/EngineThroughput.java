package dev.lowbit.bench;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.LowbitEngine;
import dev.lowbit.runtime.engine.SamplingParams;
import dev.lowbit.runtime.engine.Submission;
import dev.lowbit.runtime.engine.TokenSink;
import dev.lowbit.runtime.model.KvDtype;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The engine's aggregate decode throughput at several numbers of concurrent greedy requests (each a
 * different random prompt of 8 tokens, all submitted at once, max tokens each), best of runs; prints
 * a markdown table with each figure's ratio to one client's, taken in the same run. Not HTTP: the
 * engine in-process (the serve load generator is `./lowbit bench --suite serve`).
 * Arguments: MODEL [CLIENTS (comma-separated, default 1,4,8,16)] [TOKENS (default 64)] [RUNS (default 3)].
 */
final class EngineThroughput {
    private EngineThroughput() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) throw new LowbitException("usage: EngineThroughput MODEL [CLIENTS] [TOKENS] [RUNS]");
        int[] clients = Arrays.stream((args.length > 1 ? args[1] : "1,4,8,16").split(","))
                .mapToInt(Integer::parseInt)
                .toArray();
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int runs = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        int maxBatch = Arrays.stream(clients).max().orElse(1);
        try (LowbitEngine engine = LowbitEngine.builder()
                .model(args[0])
                .maxBatch(maxBatch)
                .kvDtype(KvDtype.F16)
                .build()) {
            int vocab = engine.model().config().vocabSize();
            round(engine, 1, tokens, vocab, 0); // warm-up
            System.out.println("| clients | generated tokens | best wall s | aggregate tokens/s | vs 1 client |");
            System.out.println("| --- | --- | --- | --- | --- |");
            double base = 0;
            for (int c : clients) {
                double best = Double.MAX_VALUE;
                for (int r = 0; r < runs; r++) best = Math.min(best, round(engine, c, tokens, vocab, 1 + r));
                double rate = (double) c * tokens / best;
                if (base == 0) base = rate;
                System.out.printf("| %d | %d | %.3f | %.1f | %.2fx |%n", c, c * tokens, best, rate, rate / base);
            }
        }
    }

    /** Seconds from submitting clients requests at once until the last finishes. */
    private static double round(LowbitEngine engine, int clients, int tokens, int vocab, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Submission> subs = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < clients; i++) {
            int[] prompt = rnd.ints(8, 1, vocab).toArray();
            subs.add(engine.submit(prompt, SamplingParams.greedy(tokens), Ignore.SINK));
        }
        for (Submission s : subs) {
            Completion c = s.result().join();
            if (c.generatedTokens() != tokens)
                throw new LowbitException("a request ended after " + c.generatedTokens() + " tokens: " + c.reason());
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    private enum Ignore implements TokenSink {
        SINK;

        @Override
        public void onToken(int token, String text) {}

        @Override
        public void onFinish(Completion completion) {}

        @Override
        public void onError(LowbitException error) {}
    }
}
