package dev.lowbit.server;

import io.helidon.webserver.WebServer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * An OpenAI-compatible HTTP server over an {@link dev.lowbit.runtime.engine.InferenceEngine}, on
 * Helidon SE's WebServer (one virtual thread per request). It listens at once; until model
 * completes, /health and the /v1 endpoints answer 503.
 */
public final class OpenAiServer implements AutoCloseable {
    /** The largest request body taken (a prompt fills the context long before). */
    private static final long MAX_BODY = 16L << 20;

    /** Where to listen (port 0: any free port) and the API key asked for (null: none). */
    public record Options(String host, int port, String apiKey) {}

    private final WebServer server;

    private OpenAiServer(WebServer server) {
        this.server = server;
    }

    public static OpenAiServer start(Options options, CompletableFuture<ServedModel> model) {
        OpenAiRoutes routes = new OpenAiRoutes(model, options.apiKey());
        WebServer server = WebServer.builder()
                .host(options.host())
                .port(options.port())
                .maxPayloadSize(MAX_BODY)
                .shutdownGracePeriod(Duration.ofSeconds(1))
                .routing(routes::register)
                .build()
                .start();
        return new OpenAiServer(server);
    }

    /** The port listened on (the one chosen when Options.port was 0). */
    public int port() {
        return server.port();
    }

    @Override
    public void close() {
        server.stop();
    }
}
