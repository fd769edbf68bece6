package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.generate.TextStream;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.lang.foreign.Arena;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/** TEMPORARY test stand-in for the batching engine (branch engine): one request at a time over Generator. */
public final class SerialTestEngine implements InferenceEngine {
    private final Arena arena = Arena.ofShared();
    private final ModelFiles.Loaded loaded = ModelFiles.open("default", arena);
    private final Generator generator = new Generator(loaded.model(), loaded.tokenizer());
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final AtomicInteger waiting = new AtomicInteger();
    private final int queueLimit;

    public SerialTestEngine(int queueLimit) {
        this.queueLimit = queueLimit;
    }

    @Override
    public String modelId() {
        return "default";
    }

    @Override
    public int contextLength() {
        return loaded.model().config().maxSeqLen();
    }

    @Override
    public Optional<BpeTokenizer> tokenizer() {
        return loaded.tokenizer();
    }

    private static final class Cancelled extends RuntimeException {}

    @Override
    public Submission submit(int[] prompt, SamplingParams params, TokenSink sink) {
        if (prompt.length == 0 || prompt.length + params.maxTokens() > contextLength())
            throw new LowbitException("prompt does not fit");
        if (waiting.incrementAndGet() > queueLimit) {
            waiting.decrementAndGet();
            throw new EngineBusyException("queue full", 1);
        }
        CompletableFuture<Completion> result = new CompletableFuture<>();
        boolean[] cancelled = {false};
        worker.execute(() -> {
            waiting.decrementAndGet();
            int stop = params.stopTokenIds().length > 0 ? params.stopTokenIds()[0] : -1;
            StringBuilder piece = new StringBuilder();
            TextStream text = new TextStream(tokenizer().orElseThrow(), piece::append);
            try {
                int[] out = generator.generate(
                        prompt,
                        new Generator.Options(
                                params.maxTokens(), params.temperature(), params.topP(), params.seed(), stop),
                        t -> {
                            if (cancelled[0]) throw new Cancelled();
                            if (t == stop) return;
                            piece.setLength(0);
                            text.accept(t);
                            sink.onToken(t, piece.toString());
                        });
                boolean stopped = out.length > 0 && out[out.length - 1] == stop;
                int[] kept = stopped ? java.util.Arrays.copyOf(out, out.length - 1) : out;
                Completion c = new Completion(
                        kept,
                        text.finish(),
                        prompt.length,
                        stopped ? Completion.FinishReason.STOP : Completion.FinishReason.LENGTH);
                sink.onFinish(c);
                result.complete(c);
            } catch (Cancelled e) {
                Completion c = new Completion(new int[0], "", prompt.length, Completion.FinishReason.CANCELLED);
                sink.onFinish(c);
                result.complete(c);
            }
        });
        return new Submission() {
            @Override
            public void cancel() {
                cancelled[0] = true;
            }

            @Override
            public CompletableFuture<Completion> result() {
                return result;
            }
        };
    }

    @Override
    public EngineStats stats() {
        return new EngineStats(0, waiting.get(), queueLimit, 1, 0, 0, 1);
    }

    @Override
    public void close() {
        worker.shutdownNow();
    }
}
