package dev.lowbit.server;

import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.Submission;

/**
 * One admitted request, from its submission to its last event: delivers the engine's output as it
 * comes (timing each token for /metrics) and cancels the sequence when the client goes away.
 */
final class Generation {
    /** Where text goes; X is what a write can throw (IOException for a network stream). */
    interface TextWriter<X extends Exception> {
        void write(String text) throws X;
    }

    private final Submission submission;
    private final TokenQueue queue;
    private final ServerMetrics metrics;
    private final long arrival;

    Generation(Submission submission, TokenQueue queue, ServerMetrics metrics, long arrival) {
        this.submission = submission;
        this.queue = queue;
        this.metrics = metrics;
        this.arrival = arrival;
    }

    /**
     * Passes each token's text to out until the request ends and returns its completion; throws the
     * engine's error. If out fails (the client disconnected) or this thread is interrupted, the
     * sequence is cancelled, which frees its cache.
     */
    <X extends Exception> Completion deliver(TextWriter<X> out) throws X, InterruptedException {
        boolean finished = false;
        try {
            long last = 0;
            while (true) {
                switch (queue.take()) {
                    case TokenQueue.Token t -> {
                        long now = System.nanoTime();
                        if (last == 0) metrics.firstToken(now - arrival);
                        else metrics.nextToken(now - last);
                        last = now;
                        if (!t.text().isEmpty()) out.write(t.text());
                    }
                    case TokenQueue.Finish f -> {
                        finished = true;
                        return f.completion();
                    }
                    case TokenQueue.Failure e -> {
                        finished = true;
                        throw e.error();
                    }
                }
            }
        } finally {
            if (!finished) submission.cancel();
        }
    }

    /** For callers that do not stream: the completion, the error as thrown. */
    Completion await() throws InterruptedException {
        return deliver(text -> {});
    }
}
