package dev.lowbit.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.InferenceEngine;
import java.util.concurrent.CompletionException;

/**
 * langchain4j's {@link ChatModel} over a lowbit {@link InferenceEngine} in the same process: each
 * chat is one request to the engine, batched with whatever else it runs. Token usage and the
 * finish reason are filled in.
 */
public final class LowbitChatModel implements ChatModel {
    private final LowbitChat chat;
    private final ChatRequestParameters defaults;

    /** defaults: the parameters of requests that set none (e.g. temperature, maxOutputTokens). */
    public LowbitChatModel(InferenceEngine engine, ChatTemplate template, ChatRequestParameters defaults) {
        this.chat = new LowbitChat(engine, template);
        this.defaults = defaults;
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        LowbitChat.Prepared p = chat.prepare(request);
        try {
            return chat.response(chat.engine()
                    .submit(p.prompt(), p.params(), LowbitChat.IGNORE)
                    .result()
                    .join());
        } catch (LowbitException e) {
            throw LowbitChat.translate(e);
        } catch (CompletionException e) {
            if (e.getCause() instanceof LowbitException le) throw LowbitChat.translate(le);
            throw e;
        }
    }
}
