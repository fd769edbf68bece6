package dev.lowbit.runtime;

/** A kernel or runtime call failed; the message says what was wrong and what to do about it. */
public class LowbitException extends RuntimeException {
    private final int status;

    public LowbitException(String message) {
        this(0, message);
    }

    public LowbitException(int status, String message) {
        super(message);
        this.status = status;
    }

    public LowbitException(String message, Throwable cause) {
        super(message, cause);
        this.status = 0;
    }

    /** The native status code (lowbit.h's LB_ERR_*), or 0 when the Java side detected the problem. */
    public int status() {
        return status;
    }
}
