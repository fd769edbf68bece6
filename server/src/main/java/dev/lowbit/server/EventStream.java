package dev.lowbit.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Server-sent events as OpenAI streams them: one "data: {json}" event per chunk, then "data: [DONE]". */
final class EventStream {
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);
    private final OutputStream out;

    EventStream(OutputStream out) {
        this.out = out;
    }

    /** Writes one event and flushes it to the client at once (a write to a closed connection throws). */
    void data(JsonNode chunk) throws IOException {
        out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    void done() throws IOException {
        out.write(DONE);
        out.flush();
    }
}
