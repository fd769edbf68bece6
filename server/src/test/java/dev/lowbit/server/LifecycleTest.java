package dev.lowbit.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.io.ModelFiles;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** /health is 503 until the model is loaded; then 200, with /v1/models listing it. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class LifecycleTest {
    @Test
    void unavailableWhileLoading() throws Exception {
        CompletableFuture<ServedModel> loading = new CompletableFuture<>();
        HttpClient http = HttpClient.newHttpClient();
        try (OpenAiServer server = OpenAiServer.start(new OpenAiServer.Options("127.0.0.1", 0, null), loading)) {
            String base = "http://127.0.0.1:" + server.port();
            assertEquals(503, get(http, base + "/health").statusCode());
            HttpResponse<String> models = get(http, base + "/v1/models");
            assertEquals(503, models.statusCode());
            assertEquals(
                    "model_loading",
                    new ObjectMapper().readTree(models.body()).at("/error/code").asText());
            assertTrue(models.headers().firstValue("retry-after").isPresent());
            InferenceEngine engine = TestServer.engine(2, 4);
            try (engine) {
                loading.complete(
                        new ServedModel(engine, ChatTemplate.of(ModelFiles.defaultModel(), engine.tokenizer())));
                assertEquals(200, get(http, base + "/health").statusCode());
                JsonNode list = new ObjectMapper()
                        .readTree(get(http, base + "/v1/models").body());
                assertEquals("list", list.get("object").asText());
                assertEquals("default", list.at("/data/0/id").asText());
                assertEquals(
                        engine.contextLength(), list.at("/data/0/max_model_len").asInt());
            }
        }
    }

    private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
