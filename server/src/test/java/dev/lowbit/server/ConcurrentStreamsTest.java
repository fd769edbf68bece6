package dev.lowbit.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.EngineStats;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Many streams at once: each the same as alone; a client that goes away frees its sequence and its cache. */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ConcurrentStreamsTest {
    private static final int CLIENTS = 16;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestServer server;
    private static RecordingEngine recorder;
    private static OpenAiServer recorded;
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeAll
    static void start() {
        server = new TestServer(8, 64);
        recorder = new RecordingEngine(server.engine);
        recorded = OpenAiServer.start(
                new OpenAiServer.Options("127.0.0.1", 0, null),
                CompletableFuture.completedFuture(new ServedModel(recorder, server.template)));
    }

    @AfterAll
    static void stop() {
        recorded.close();
        server.close();
    }

    /** Client i's request: its own question, sampled at temperature 0.8 with its own seed. */
    private static String body(int i, int maxTokens) {
        return "{\"model\":\"default\",\"stream\":true,\"temperature\":0.8,\"seed\":" + (100 + i) + ",\"max_tokens\":"
                + maxTokens + ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me of letter " + i + ".\"}]}";
    }

    private static String stream(int i) throws Exception {
        HttpResponse<Stream<String>> res = HTTP.send(
                HttpRequest.newBuilder(URI.create(server.base() + "/v1/chat/completions"))
                        .header("Authorization", "Bearer " + TestServer.KEY)
                        .timeout(Duration.ofSeconds(120))
                        .POST(HttpRequest.BodyPublishers.ofString(body(i, 20)))
                        .build(),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, res.statusCode());
        assertEquals(
                "text/event-stream", res.headers().firstValue("content-type").orElse(""));
        List<JsonNode> events = Sse.events(res.body());
        assertEquals("assistant", events.get(0).at("/choices/0/delta/role").asText());
        assertFalse(events.getLast().at("/choices/0/finish_reason").isNull());
        return Sse.chatText(events);
    }

    @Test
    void sixteenClientsEachGetTheirSoloAnswer() throws Exception {
        int freeBefore = server.engine.stats().kvBlocksFree();
        List<String> solo = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) solo.add(stream(i));
        List<Future<String>> together = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < CLIENTS; i++) {
                int client = i;
                together.add(clients.submit(() -> stream(client)));
            }
        }
        for (int i = 0; i < CLIENTS; i++) {
            assertFalse(solo.get(i).isEmpty());
            assertEquals(solo.get(i), together.get(i).get(), "client " + i);
        }
        assertIdle(freeBefore);
    }

    @Test
    void aClientThatDisconnectsCancelsItsSequence() throws Exception {
        int freeBefore = server.engine.stats().kvBlocksFree();
        int maxTokens = server.engine.contextLength() - 40;
        HttpResponse<InputStream> res = HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + recorded.port() + "/v1/chat/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(body(0, maxTokens)))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, res.statusCode());
        BufferedReader lines = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8));
        int events = 0;
        while (events < 3) if (lines.readLine().startsWith("data: ")) events++;
        lines.close(); // the client goes away mid-stream
        Completion ended = recorder.results.getLast().get(60, TimeUnit.SECONDS);
        assertEquals(Completion.FinishReason.CANCELLED, ended.reason());
        assertTrue(ended.generatedTokens() < maxTokens, ended.generatedTokens() + " tokens");
        assertIdle(freeBefore);
        assertFalse(stream(1).isEmpty()); // and the server goes on
    }

    /** Nothing running or queued, every cache block back in the pool (within a few scheduler steps). */
    private static void assertIdle(int freeBefore) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        EngineStats s = server.engine.stats();
        while ((s.running() > 0 || s.queued() > 0 || s.kvBlocksFree() != freeBefore) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            s = server.engine.stats();
        }
        assertEquals(0, s.running(), s.toString());
        assertEquals(0, s.queued(), s.toString());
        assertEquals(freeBefore, s.kvBlocksFree(), s.toString());
    }
}
