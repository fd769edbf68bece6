package dev.lowbit.server;

import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.EngineStats;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.SamplingParams;
import dev.lowbit.runtime.engine.Submission;
import dev.lowbit.runtime.engine.TokenSink;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** An engine that keeps the result of every request the server submits, for tests to see how each ended. */
final class RecordingEngine implements InferenceEngine {
    private final InferenceEngine engine;
    final List<CompletableFuture<Completion>> results = new CopyOnWriteArrayList<>();

    RecordingEngine(InferenceEngine engine) {
        this.engine = engine;
    }

    @Override
    public Submission submit(int[] prompt, SamplingParams params, TokenSink sink) {
        Submission s = engine.submit(prompt, params, sink);
        results.add(s.result());
        return s;
    }

    @Override
    public String modelId() {
        return engine.modelId();
    }

    @Override
    public int contextLength() {
        return engine.contextLength();
    }

    @Override
    public Optional<BpeTokenizer> tokenizer() {
        return engine.tokenizer();
    }

    @Override
    public EngineStats stats() {
        return engine.stats();
    }

    @Override
    public void close() {
        engine.close();
    }
}
