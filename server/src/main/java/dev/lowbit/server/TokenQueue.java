package dev.lowbit.server;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.TokenSink;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A request's output handed from the engine's scheduler thread (which must not wait on a slow
 * client) to the request's own virtual thread, which writes it to the network.
 */
final class TokenQueue implements TokenSink {
    sealed interface Event {}

    record Token(String text) implements Event {}

    record Finish(Completion completion) implements Event {}

    record Failure(LowbitException error) implements Event {}

    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();

    @Override
    public void onToken(int token, String text) {
        events.add(new Token(text));
    }

    @Override
    public void onFinish(Completion completion) {
        events.add(new Finish(completion));
    }

    @Override
    public void onError(LowbitException error) {
        events.add(new Failure(error));
    }

    Event take() throws InterruptedException {
        return events.take();
    }
}
