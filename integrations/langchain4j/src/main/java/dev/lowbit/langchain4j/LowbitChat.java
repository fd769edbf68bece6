package dev.lowbit.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.exception.RateLimitException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.EngineBusyException;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.SamplingParams;
import dev.lowbit.runtime.engine.TokenSink;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * What both chat models share: langchain4j's request to the engine's prompt and sampling (unset
 * parameters: temperature 1, top_p 1, all tokens, up to the end of the context, as OpenAI's), and
 * the engine's completion back to langchain4j's response.
 */
final class LowbitChat {
    /** A request ready for the engine. */
    record Prepared(int[] prompt, SamplingParams params) {}

    /** A sink for callers that only want the result. */
    static final TokenSink IGNORE = new TokenSink() {
        @Override
        public void onToken(int token, String text) {}

        @Override
        public void onFinish(Completion completion) {}

        @Override
        public void onError(LowbitException error) {}
    };

    private final InferenceEngine engine;
    private final ChatTemplate template;

    LowbitChat(InferenceEngine engine, ChatTemplate template) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.template = Objects.requireNonNull(template, "template");
    }

    InferenceEngine engine() {
        return engine;
    }

    Prepared prepare(ChatRequest request) {
        ChatRequestParameters p = request.parameters();
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty())
            throw new UnsupportedFeatureException("tools are not supported by lowbit's chat models");
        if (p.modelName() != null && !p.modelName().equals(engine.modelId()))
            throw new InvalidRequestException(
                    "the model '" + p.modelName() + "' is not this engine's '" + engine.modelId() + "'");
        int[] prompt = engine.tokenizer()
                .orElseThrow(() -> new InvalidRequestException("this model has no tokenizer: it cannot chat"))
                .encode(render(request.messages()));
        int room = engine.contextLength() - prompt.length;
        int maxTokens = p.maxOutputTokens() != null ? p.maxOutputTokens() : Math.max(1, room);
        int eos = engine.tokenizer().get().specialId("</s>");
        try {
            SamplingParams params = new SamplingParams(
                    maxTokens,
                    p.temperature() == null ? 1f : p.temperature().floatValue(),
                    p.topP() == null ? 1f : p.topP().floatValue(),
                    p.topK() == null ? 0 : p.topK(),
                    ThreadLocalRandom.current().nextLong(),
                    p.stopSequences() == null ? List.of() : p.stopSequences(),
                    eos < 0 ? new int[0] : new int[] {eos});
            return new Prepared(prompt, params);
        } catch (LowbitException e) {
            throw translate(e);
        }
    }

    ChatResponse response(Completion c) {
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(c.text()))
                .modelName(engine.modelId())
                .tokenUsage(new TokenUsage(c.promptTokens(), c.generatedTokens()))
                .finishReason(
                        switch (c.reason()) {
                            case STOP -> FinishReason.STOP;
                            case LENGTH -> FinishReason.LENGTH;
                            case CANCELLED -> FinishReason.OTHER;
                        })
                .build();
    }

    /** The engine's refusals as langchain4j's exceptions: a full queue is retriable, the rest is the request's fault. */
    static LangChain4jException translate(LowbitException e) {
        return e instanceof EngineBusyException
                ? new RateLimitException(e.getMessage())
                : new InvalidRequestException(e.getMessage());
    }

    private String render(List<ChatMessage> messages) {
        List<ChatTemplate.Message> turns = new ArrayList<>();
        for (ChatMessage m : messages)
            turns.add(
                    switch (m) {
                        case SystemMessage s -> new ChatTemplate.Message("system", s.text());
                        case UserMessage u -> new ChatTemplate.Message("user", text(u));
                        case AiMessage a -> new ChatTemplate.Message("assistant", a.text() == null ? "" : a.text());
                        default ->
                            throw new UnsupportedFeatureException(
                                    m.type() + " messages are not supported by lowbit's chat models");
                    });
        try {
            return template.render(turns);
        } catch (LowbitException e) {
            throw new InvalidRequestException(e.getMessage());
        }
    }

    private static String text(UserMessage u) {
        StringBuilder text = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t))
                throw new UnsupportedFeatureException(
                        c.type() + " content is not supported: lowbit's models read text");
            text.append(t.text());
        }
        return text.toString();
    }
}
