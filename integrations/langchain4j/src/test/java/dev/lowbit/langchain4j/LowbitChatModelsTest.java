package dev.lowbit.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.chat.GreedyReference;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.LowbitEngine;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.KvDtype;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The chat models through langchain4j's own API, against in-process greedy generation. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class LowbitChatModelsTest {
    private static final String QUESTION = "Where does Emma live?";
    private static final int MAX_TOKENS = 20;
    private static final ChatRequestParameters GREEDY = ChatRequestParameters.builder()
            .temperature(0.0)
            .maxOutputTokens(MAX_TOKENS)
            .build();

    private static InferenceEngine engine;
    private static ChatTemplate template;
    private static GreedyReference reference;

    @BeforeAll
    static void start() {
        engine = LowbitEngine.builder()
                .model("default")
                .maxBatch(4)
                .kvDtype(KvDtype.F32)
                .build();
        template = ChatTemplate.of(ModelFiles.defaultModel(), engine.tokenizer());
        reference = new GreedyReference();
    }

    @AfterAll
    static void stop() {
        engine.close();
        reference.close();
    }

    @Test
    void chatModelAnswersAsGreedyGeneration() {
        ChatModel model = new LowbitChatModel(engine, template, GREEDY);
        ChatResponse response = model.chat(UserMessage.from(QUESTION));
        int[] expected = reference.chat(QUESTION, MAX_TOKENS);
        assertFalse(reference.text(expected).isEmpty());
        assertEquals(reference.text(expected), response.aiMessage().text());
        assertEquals(reference.promptTokens(QUESTION), response.tokenUsage().inputTokenCount());
        assertEquals(expected.length, response.tokenUsage().outputTokenCount());
        assertEquals(expected.length == MAX_TOKENS ? FinishReason.LENGTH : FinishReason.STOP, response.finishReason());
        assertEquals("default", response.modelName());
    }

    @Test
    void requestParametersOverrideTheDefaults() {
        ChatModel model = new LowbitChatModel(engine, template, GREEDY);
        ChatResponse response = model.chat(ChatRequest.builder()
                .messages(UserMessage.from(QUESTION))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(3).build())
                .build());
        assertEquals(3, response.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, response.finishReason());
        assertEquals(
                reference.text(reference.chat(QUESTION, 3)),
                response.aiMessage().text());
    }

    @Test
    void streamingModelStreamsTheGreedyText() throws Exception {
        StreamingChatModel model = new LowbitStreamingChatModel(engine, template, GREEDY);
        List<String> parts = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(List.of(UserMessage.from(QUESTION)), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                parts.add(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse response = done.get(1, TimeUnit.MINUTES);
        int[] expected = reference.chat(QUESTION, MAX_TOKENS);
        assertEquals(reference.text(expected), String.join("", parts));
        assertEquals(reference.text(expected), response.aiMessage().text());
        assertEquals(expected.length, response.tokenUsage().outputTokenCount());
    }

    @Test
    void aRequestBeyondTheContextIsRefused() {
        ChatModel model = new LowbitChatModel(engine, template, GREEDY);
        ChatRequest tooLong = ChatRequest.builder()
                .messages(SystemMessage.from("Be brief."), UserMessage.from(QUESTION))
                .parameters(ChatRequestParameters.builder()
                        .maxOutputTokens(engine.contextLength())
                        .build())
                .build();
        assertThrows(InvalidRequestException.class, () -> model.chat(tooLong));
    }
}
