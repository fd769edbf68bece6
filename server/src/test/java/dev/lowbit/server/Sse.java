package dev.lowbit.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Reads an OpenAI event stream: the JSON of each "data:" event up to "data: [DONE]", which must end it. */
final class Sse {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Sse() {}

    static List<JsonNode> events(Stream<String> lines) {
        List<JsonNode> events = new ArrayList<>();
        boolean done = false;
        for (String line : (Iterable<String>) lines::iterator) {
            if (!line.startsWith("data: ")) continue;
            if (done) throw new AssertionError("an event after [DONE]: " + line);
            String data = line.substring("data: ".length());
            if (data.equals("[DONE]")) done = true;
            else
                try {
                    events.add(JSON.readTree(data));
                } catch (Exception e) {
                    throw new UncheckedIOException(new IOException("not JSON: " + data, e));
                }
        }
        if (!done) throw new AssertionError("the stream did not end with data: [DONE]");
        return events;
    }

    /** The text a chat completion stream carries. */
    static String chatText(List<JsonNode> events) {
        StringBuilder text = new StringBuilder();
        for (JsonNode e : events)
            for (JsonNode choice : e.path("choices"))
                text.append(choice.path("delta").path("content").asText(""));
        return text.toString();
    }
}
