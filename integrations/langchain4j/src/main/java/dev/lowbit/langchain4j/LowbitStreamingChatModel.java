package dev.lowbit.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.TokenSink;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

/**
 * langchain4j's {@link StreamingChatModel} over a lowbit {@link InferenceEngine} in the same
 * process: the text of each token goes to onPartialResponse as the engine produces it, then the
 * whole response (token usage, finish reason) to onCompleteResponse. The handler is called in order
 * on a virtual thread of its own, never on the engine's scheduler thread, so a slow handler does
 * not hold up other requests.
 */
public final class LowbitStreamingChatModel implements StreamingChatModel {
    private static final Executor HANDLERS = Executors.newVirtualThreadPerTaskExecutor();

    private final LowbitChat chat;
    private final ChatRequestParameters defaults;

    /** defaults: the parameters of requests that set none (e.g. temperature, maxOutputTokens). */
    public LowbitStreamingChatModel(InferenceEngine engine, ChatTemplate template, ChatRequestParameters defaults) {
        this.chat = new LowbitChat(engine, template);
        this.defaults = defaults;
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        LowbitChat.Prepared p;
        try {
            p = chat.prepare(request);
            chat.engine().submit(p.prompt(), p.params(), new Relay(handler));
        } catch (RuntimeException e) {
            handler.onError(e instanceof LowbitException le ? LowbitChat.translate(le) : e);
        }
    }

    /** Hands each callback to the handler's virtual thread, in order (the scheduler calls a sink from one thread). */
    private final class Relay implements TokenSink {
        private final StreamingChatResponseHandler handler;
        private CompletableFuture<Void> last = CompletableFuture.completedFuture(null);

        Relay(StreamingChatResponseHandler handler) {
            this.handler = handler;
        }

        /** A handler that throws gets its exception in onError, as langchain4j's own models do. */
        private void then(Runnable call) {
            last = last.thenRunAsync(
                    () -> {
                        try {
                            call.run();
                        } catch (RuntimeException e) {
                            handler.onError(e);
                        }
                    },
                    HANDLERS);
        }

        @Override
        public void onToken(int token, String text) {
            if (!text.isEmpty()) then(() -> handler.onPartialResponse(text));
        }

        @Override
        public void onFinish(Completion completion) {
            then(() -> handler.onCompleteResponse(chat.response(completion)));
        }

        @Override
        public void onError(LowbitException error) {
            then(() -> handler.onError(LowbitChat.translate(error)));
        }
    }
}
