package dev.lowbit.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.engine.Completion;
import dev.lowbit.runtime.engine.EngineBusyException;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.Submission;
import dev.lowbit.server.OpenAiJson.Endpoint;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/** The HTTP endpoints: OpenAI's completions, chat completions and models, plus /health and /metrics. */
final class OpenAiRoutes {
    private static final Logger LOG = Logger.getLogger(OpenAiRoutes.class.getName());
    private static final String JSON = "application/json";

    private final CompletableFuture<ServedModel> model;
    private final byte[] apiKey;
    private final ServerMetrics metrics;
    private final ObjectMapper mapper = new ObjectMapper();
    private final long started = System.currentTimeMillis() / 1000;

    /** apiKey null: no key is asked for. */
    OpenAiRoutes(CompletableFuture<ServedModel> model, String apiKey) {
        this.model = model;
        this.apiKey = apiKey == null ? null : apiKey.getBytes(StandardCharsets.UTF_8);
        this.metrics = new ServerMetrics(() -> {
            ServedModel m = model.getNow(null);
            return m == null ? null : m.engine();
        });
    }

    void register(HttpRouting.Builder routing) {
        routing.get("/health", counted("health", this::health))
                .get("/metrics", counted("metrics", this::metrics))
                .any("/v1/*", counted("auth", this::authorize))
                .get("/v1/models", counted("models", this::models))
                .post("/v1/completions", counted("completions", (req, res) -> generate(req, res, Endpoint.COMPLETIONS)))
                .post(
                        "/v1/chat/completions",
                        counted("chat_completions", (req, res) -> generate(req, res, Endpoint.CHAT)))
                .any(counted("unknown", (req, res) -> {
                    throw ApiError.notFound(
                            "no endpoint " + req.prologue().method().text() + " "
                                    + req.path().path() + ": this server has POST /v1/completions, POST"
                                    + " /v1/chat/completions, GET /v1/models, GET /health and GET /metrics");
                }));
    }

    private void health(ServerRequest req, ServerResponse res) {
        loaded(); // 503 while loading
        sendJson(res, 200, mapper.createObjectNode().put("status", "ok"));
    }

    private void metrics(ServerRequest req, ServerResponse res) throws IOException {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        metrics.write(text);
        res.header(HeaderNames.CONTENT_TYPE, metrics.contentType());
        res.send(text.toByteArray());
    }

    /** With --api-key, every /v1 request carries "Authorization: Bearer KEY". */
    private void authorize(ServerRequest req, ServerResponse res) {
        if (apiKey != null) {
            String given = req.headers().first(HeaderNames.AUTHORIZATION).orElse(null);
            if (given == null)
                throw ApiError.unauthorized(
                        "no API key given: send the server's --api-key as the header \"Authorization: Bearer KEY\"");
            byte[] key = given.startsWith("Bearer ")
                    ? given.substring("Bearer ".length()).strip().getBytes(StandardCharsets.UTF_8)
                    : new byte[0];
            if (!MessageDigest.isEqual(key, apiKey)) // in constant time
            throw ApiError.unauthorized("the API key given is not this server's --api-key: check the key");
        }
        res.next();
    }

    private void models(ServerRequest req, ServerResponse res) {
        InferenceEngine engine = loaded().engine();
        ObjectNode list = mapper.createObjectNode().put("object", "list");
        list.putArray("data")
                .addObject()
                .put("id", engine.modelId())
                .put("object", "model")
                .put("created", started)
                .put("owned_by", "lowbit")
                .put("max_model_len", engine.contextLength());
        sendJson(res, 200, list);
    }

    private void generate(ServerRequest req, ServerResponse res, Endpoint endpoint) throws InterruptedException {
        long arrival = System.nanoTime();
        ServedModel served = loaded();
        InferenceEngine engine = served.engine();
        JsonNode body = body(req);
        RequestReader reader = new RequestReader(engine, served.template());
        GenerationRequest request = endpoint == Endpoint.CHAT ? reader.chat(body) : reader.completion(body);
        TokenQueue queue = new TokenQueue();
        Submission submission = engine.submit(request.prompt(), request.params(), queue);
        metrics.admitted(request.prompt().length);
        Generation generation = new Generation(submission, queue, metrics, arrival);
        OpenAiJson json = new OpenAiJson(endpoint, engine.modelId());
        if (!request.stream()) {
            sendJson(res, 200, json.whole(generation.await()));
            return;
        }
        boolean usage = request.includeUsage();
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        try (OutputStream out = res.outputStream()) {
            EventStream events = new EventStream(out);
            if (endpoint == Endpoint.CHAT) events.data(json.roleChunk(usage));
            Completion done;
            try {
                done = generation.deliver(text -> events.data(json.textChunk(text, null, usage)));
            } catch (LowbitException e) { // the headers are sent: the error goes as an event
                events.data(failure(e).json());
                events.done();
                return;
            }
            events.data(json.textChunk("", done.reason(), usage));
            if (usage) events.data(json.usageChunk(done));
            events.done();
        } catch (IOException | UncheckedIOException gone) { // the client went away; its sequence is cancelled
            LOG.log(Level.FINE, "client disconnected mid-stream", gone);
        }
    }

    private ServedModel loaded() {
        try {
            ServedModel m = model.getNow(null);
            if (m == null)
                throw ApiError.unavailable("the model is still loading: retry in a few seconds", "model_loading", 5);
            return m;
        } catch (CompletionException e) {
            throw ApiError.unavailable(
                    "the model failed to load (" + e.getCause().getMessage() + "): see the server's log",
                    "model_failed",
                    0);
        }
    }

    private JsonNode body(ServerRequest req) {
        byte[] bytes = req.content().as(byte[].class);
        JsonNode body;
        try {
            body = mapper.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw ApiError.badRequest(
                    "the request body is not valid JSON (" + e.getOriginalMessage() + " at line "
                            + e.getLocation().getLineNr() + ", column "
                            + e.getLocation().getColumnNr()
                            + "): send one JSON object",
                    null);
        } catch (IOException e) {
            throw ApiError.badRequest("the request body could not be read: " + e.getMessage(), null);
        }
        if (body == null || !body.isObject())
            throw ApiError.badRequest(
                    "the request body must be a JSON object, got " + (body == null ? "nothing" : body.getNodeType()),
                    null);
        return body;
    }

    /** Runs handler, answers what it throws in OpenAI's error shape, and counts the response by status. */
    private Handler counted(String endpoint, Handler handler) {
        return (req, res) -> {
            try {
                handler.handle(req, res);
            } catch (RuntimeException e) {
                ApiError error = failure(e);
                if (error.status >= 500 && !(e instanceof ApiError)) LOG.log(Level.WARNING, "request failed", e);
                if (res.isSent()) LOG.log(Level.FINE, "error after the response was sent", e);
                else sendError(res, error);
            } finally {
                if (!endpoint.equals("auth") || res.isSent())
                    metrics.request(endpoint, res.status().code());
            }
        };
    }

    /** What the client is told about e. */
    private static ApiError failure(RuntimeException e) {
        return switch (e) {
            case ApiError api -> api;
            case EngineBusyException busy ->
                ApiError.unavailable(
                        "the server is busy (" + busy.getMessage() + "): retry after " + busy.retryAfterSeconds()
                                + " s",
                        "engine_busy",
                        busy.retryAfterSeconds());
            case LowbitException bad -> ApiError.badRequest(bad.getMessage(), null);
            default -> ApiError.internal("internal error (" + e.getClass().getSimpleName() + "): see the server's log");
        };
    }

    private void sendError(ServerResponse res, ApiError error) {
        if (error.retryAfter > 0) res.header(HeaderNames.RETRY_AFTER, String.valueOf(error.retryAfter));
        sendJson(res, error.status, error.json());
    }

    private void sendJson(ServerResponse res, int status, JsonNode json) {
        res.status(status);
        res.header(HeaderNames.CONTENT_TYPE, JSON);
        res.send(json.toString().getBytes(StandardCharsets.UTF_8));
    }
}
