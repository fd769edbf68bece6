package dev.lowbit.runtime.engine;

import java.util.concurrent.CompletableFuture;

/** A queued or running request. */
public interface Submission {
    /** Stops the request and frees its KV cache blocks before the next scheduler step; idempotent. */
    void cancel();

    /** Completes with the request's {@link Completion}, or exceptionally with the error its sink got. */
    CompletableFuture<Completion> result();
}
