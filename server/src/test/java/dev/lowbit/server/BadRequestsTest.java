package dev.lowbit.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.chat.GreedyReference;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each kind of bad request gets its status and a message that says what to change; the server stays up. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class BadRequestsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestServer server;
    private static GreedyReference reference;

    @BeforeAll
    static void start() {
        server = new TestServer(4, 16);
        reference = new GreedyReference();
    }

    @AfterAll
    static void stop() throws Exception {
        // still up and answering after every refusal
        assertEquals(200, server.get("/health").statusCode());
        assertEquals(
                200,
                server.post("/v1/completions", "{\"prompt\":\"Emma\",\"max_tokens\":2}")
                        .statusCode());
        server.close();
        reference.close();
    }

    /** Posts body and checks the status and OpenAI's error object; returns it. */
    private static JsonNode refused(String path, String body, int status, String message, String param)
            throws Exception {
        HttpResponse<String> res = server.post(path, body);
        assertEquals(status, res.statusCode(), res.body());
        assertTrue(res.headers().firstValue("content-type").orElse("").startsWith("application/json"));
        JsonNode error = JSON.readTree(res.body()).get("error");
        assertTrue(error.get("message").asText().contains(message), error.toString());
        assertEquals("invalid_request_error", error.get("type").asText());
        assertTrue(error.has("code"));
        if (param == null) assertTrue(error.get("param").isNull(), error.toString());
        else assertEquals(param, error.get("param").asText());
        return error;
    }

    @Test
    void malformedJson() throws Exception {
        refused("/v1/chat/completions", "{\"model\": \"default\", \"messages\": [", 400, "not valid JSON", null);
        refused("/v1/completions", "[1, 2]", 400, "must be a JSON object", null);
    }

    @Test
    void wrongFieldTypes() throws Exception {
        refused(
                "/v1/completions",
                "{\"prompt\":\"Emma\",\"max_tokens\":\"ten\"}",
                400,
                "max_tokens must be an integer, got \"ten\"",
                "max_tokens");
        refused(
                "/v1/completions",
                "{\"prompt\":\"Emma\",\"temperature\":\"hot\"}",
                400,
                "temperature must be a number",
                "temperature");
        refused("/v1/completions", "{\"prompt\":\"Emma\",\"stream\":1}", 400, "stream must be true or false", "stream");
        refused(
                "/v1/chat/completions",
                "{\"messages\":{\"role\":\"user\"}}",
                400,
                "messages must be an array",
                "messages");
        refused(
                "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"king\",\"content\":\"hi\"}]}",
                400,
                "role must be one of",
                "messages[0].role");
        refused("/v1/completions", "{\"prompt\":{\"text\":\"Emma\"}}", 400, "prompt must be a string", "prompt");
        refused("/v1/completions", "{\"prompt\":\"Emma\",\"top_p\":0}", 400, "top_p must be in (0, 1]", "top_p");
    }

    @Test
    void unknownEndpointOrMethod() throws Exception {
        HttpResponse<String> res = server.get("/v1/completions");
        assertEquals(404, res.statusCode());
        assertTrue(
                JSON.readTree(res.body()).at("/error/message").asText().startsWith("no endpoint GET /v1/completions"));
        assertEquals(404, server.post("/v1/embeddings", "{}").statusCode());
    }

    @Test
    void unknownModel() throws Exception {
        JsonNode error = refused(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                400,
                "the model 'gpt-4' does not exist: this server serves 'default'",
                "model");
        assertEquals("model_not_found", error.get("code").asText());
    }

    @Test
    void emptyPrompt() throws Exception {
        refused("/v1/completions", "{\"prompt\":\"\"}", 400, "prompt is empty", "prompt");
        refused("/v1/completions", "{\"max_tokens\":3}", 400, "prompt is missing", "prompt");
        refused("/v1/chat/completions", "{\"messages\":[]}", 400, "messages is empty", "messages");
        refused(
                "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}",
                400,
                "messages is empty",
                "messages");
    }

    @Test
    void promptPlusMaxTokensBeyondTheContext() throws Exception {
        int context = server.engine.contextLength();
        int prompt = reference.promptTokens("Who is Emma?");
        JsonNode error = refused(
                "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Who is Emma?\"}],\"max_tokens\":" + context + "}",
                400,
                "give max_tokens at most " + (context - prompt),
                "max_tokens");
        assertEquals("context_length_exceeded", error.get("code").asText());
        String longText = "Emma Woodhouse, handsome, clever, and rich. ".repeat(60);
        refused(
                "/v1/completions",
                "{\"prompt\":\"" + longText + "\"}",
                400,
                "shorten the prompt to at most " + (context - 1) + " tokens",
                "prompt");
    }

    @Test
    void missingOrWrongKey() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String body = "{\"prompt\":\"Emma\",\"max_tokens\":2}";
        HttpResponse<String> none = http.send(
                HttpRequest.newBuilder(URI.create(server.base() + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, none.statusCode());
        assertTrue(JSON.readTree(none.body()).at("/error/message").asText().contains("Authorization: Bearer"));
        HttpResponse<String> wrong = http.send(
                HttpRequest.newBuilder(URI.create(server.base() + "/v1/models"))
                        .header("Authorization", "Bearer not-the-key")
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, wrong.statusCode());
        assertEquals(
                "invalid_api_key", JSON.readTree(wrong.body()).at("/error/code").asText());
        // health and metrics are open, as llama-server's
        HttpResponse<String> health = http.send(
                HttpRequest.newBuilder(URI.create(server.base() + "/health")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, health.statusCode());
    }
}
