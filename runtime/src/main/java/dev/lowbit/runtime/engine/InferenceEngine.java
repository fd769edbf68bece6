package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.util.Optional;

/**
 * One loaded model serving many concurrent requests: what an HTTP server (or any embedding
 * application) calls. {@link #submit} returns at once; tokens arrive on the request's
 * {@link TokenSink} from the engine's scheduler thread, in order, until one terminal callback.
 */
public interface InferenceEngine extends AutoCloseable {
    /** The model's name as clients address it (e.g. the model folder's name). */
    String modelId();

    /** The most prompt plus generated tokens one sequence can hold. */
    int contextLength();

    /** The model's tokenizer, absent for models that take token ids only. */
    Optional<BpeTokenizer> tokenizer();

    /**
     * Queues a request. Throws {@link EngineBusyException} when the wait queue is full and
     * {@link dev.lowbit.runtime.LowbitException} for a request that can never run (empty prompt,
     * prompt plus maxTokens beyond the context, a token id outside the vocabulary).
     */
    Submission submit(int[] prompt, SamplingParams params, TokenSink sink);

    /** A snapshot of the scheduler's state, for /metrics and tests. */
    EngineStats stats();

    /** Cancels every request (each gets onFinish with CANCELLED) and frees the model and cache. */
    @Override
    void close();
}
