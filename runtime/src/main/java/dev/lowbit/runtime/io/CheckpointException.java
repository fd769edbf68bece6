package dev.lowbit.runtime.io;

import dev.lowbit.runtime.LowbitException;

/** A checkpoint file is missing, corrupt, truncated or inconsistent; the message names the file and the problem. */
public class CheckpointException extends LowbitException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
