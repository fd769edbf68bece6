package dev.lowbit.server;

import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.LowbitEngine;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.KvDtype;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** A server on the default model at an ephemeral loopback port, and plain HTTP calls to it. */
final class TestServer implements AutoCloseable {
    static final String KEY = "test-key";

    final InferenceEngine engine;
    final ChatTemplate template;
    final OpenAiServer server;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    TestServer(int maxBatch, int queue) {
        engine = engine(maxBatch, queue);
        template = ChatTemplate.of(ModelFiles.defaultModel(), engine.tokenizer());
        server = OpenAiServer.start(
                new OpenAiServer.Options("127.0.0.1", 0, KEY),
                CompletableFuture.completedFuture(new ServedModel(engine, template)));
    }

    /** The batching engine with an fp32 cache, as in-process greedy generation keeps one. */
    static InferenceEngine engine(int maxBatch, int queue) {
        return LowbitEngine.builder()
                .model("default")
                .maxBatch(maxBatch)
                .queueLimit(queue)
                .kvDtype(KvDtype.F32)
                .build();
    }

    String base() {
        return "http://127.0.0.1:" + server.port();
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create(base() + path))
                        .header("Authorization", "Bearer " + KEY)
                        .header("Content-Type", "application/json")
                        .timeout(Duration.ofSeconds(60))
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create(base() + path))
                        .header("Authorization", "Bearer " + KEY)
                        .timeout(Duration.ofSeconds(60))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Override
    public void close() {
        server.close();
        engine.close();
    }
}
