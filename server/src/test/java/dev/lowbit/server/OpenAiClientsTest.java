package dev.lowbit.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.lowbit.runtime.chat.GreedyReference;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** langchain4j-open-ai's own clients against the server: the same text as in-process greedy generation. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class OpenAiClientsTest {
    private static final String QUESTION = "What did Mr. Darcy say to Elizabeth?";
    private static final int MAX_TOKENS = 24;

    private static TestServer server;
    private static GreedyReference reference;

    @BeforeAll
    static void start() {
        server = new TestServer(8, 64);
        reference = new GreedyReference();
    }

    @AfterAll
    static void stop() {
        server.close();
        reference.close();
    }

    @Test
    void chatModelAnswersAsGreedyGeneration() {
        ChatModel model = OpenAiChatModel.builder()
                .baseUrl(server.base() + "/v1")
                .apiKey(TestServer.KEY)
                .modelName("default")
                .temperature(0.0)
                .maxTokens(MAX_TOKENS)
                .timeout(Duration.ofSeconds(60))
                .build();
        ChatResponse response = model.chat(
                ChatRequest.builder().messages(UserMessage.from(QUESTION)).build());
        int[] expected = reference.chat(QUESTION, MAX_TOKENS);
        assertFalse(reference.text(expected).isEmpty());
        assertEquals(reference.text(expected), response.aiMessage().text());
        assertEquals(reference.promptTokens(QUESTION), response.tokenUsage().inputTokenCount());
        assertEquals(expected.length, response.tokenUsage().outputTokenCount());
        assertEquals(expected.length == MAX_TOKENS ? FinishReason.LENGTH : FinishReason.STOP, response.finishReason());
    }

    @Test
    void streamingChatModelStreamsTheGreedyText() throws Exception {
        StreamingChatModel model = OpenAiStreamingChatModel.builder()
                .baseUrl(server.base() + "/v1")
                .apiKey(TestServer.KEY)
                .modelName("default")
                .temperature(0.0)
                .maxTokens(MAX_TOKENS)
                .timeout(Duration.ofSeconds(60))
                .build();
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
        ChatResponse response = done.get(2, TimeUnit.MINUTES);
        int[] expected = reference.chat(QUESTION, MAX_TOKENS);
        assertEquals(reference.text(expected), String.join("", parts));
        assertEquals(reference.text(expected), response.aiMessage().text());
        assertEquals(expected.length, response.tokenUsage().outputTokenCount()); // stream_options.include_usage
        assertEquals(reference.promptTokens(QUESTION), response.tokenUsage().inputTokenCount());
    }
}
