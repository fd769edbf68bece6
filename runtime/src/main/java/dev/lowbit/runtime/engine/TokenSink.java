package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;

/**
 * Receives one request's output, called from the engine's scheduler thread (keep it quick: hand
 * slow work such as network writes to another thread). onToken comes once per generated token, in
 * order; then exactly one of onFinish or onError.
 */
public interface TokenSink {
    /** token was generated; text is the text it completes (whole characters only, possibly empty). */
    void onToken(int token, String text);

    void onFinish(Completion completion);

    void onError(LowbitException error);
}
