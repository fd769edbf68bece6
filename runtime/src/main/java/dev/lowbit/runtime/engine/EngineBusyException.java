package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;

/** The wait queue is full; a server answers 503 with Retry-After: retryAfterSeconds. */
public final class EngineBusyException extends LowbitException {
    private final int retryAfterSeconds;

    public EngineBusyException(String message, int retryAfterSeconds) {
        super(message);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
