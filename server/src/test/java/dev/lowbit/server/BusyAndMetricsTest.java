package dev.lowbit.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A full queue answers 503 with Retry-After; /metrics counts what was answered and generated. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class BusyAndMetricsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void fullQueueAnswers503AndMetricsAddUp() throws Exception {
        try (TestServer server = new TestServer(1, 1)) {
            List<Future<HttpResponse<String>>> answers = new ArrayList<>();
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 8; i++)
                    answers.add(clients.submit(() -> server.post(
                            "/v1/completions", "{\"prompt\":\"It is a truth\",\"max_tokens\":60,\"temperature\":0}")));
            }
            int ok = 0, busy = 0, generated = 0;
            for (Future<HttpResponse<String>> f : answers) {
                HttpResponse<String> res = f.get();
                JsonNode body = JSON.readTree(res.body());
                if (res.statusCode() == 200) {
                    ok++;
                    generated += body.at("/usage/completion_tokens").asInt();
                    assertEquals("text_completion", body.get("object").asText());
                } else {
                    assertEquals(503, res.statusCode(), res.body());
                    busy++;
                    assertTrue(Integer.parseInt(
                                    res.headers().firstValue("retry-after").orElseThrow())
                            >= 1);
                    assertEquals("engine_busy", body.at("/error/code").asText());
                    assertEquals("server_error", body.at("/error/type").asText());
                }
            }
            assertTrue(ok >= 1 && busy >= 1, ok + " answered, " + busy + " refused");
            String metrics = server.get("/metrics").body();
            assertEquals(ok, value(metrics, "lowbit_requests_total\\{endpoint=\"completions\",status=\"200\"\\}"));
            assertEquals(busy, value(metrics, "lowbit_requests_total\\{endpoint=\"completions\",status=\"503\"\\}"));
            assertEquals(generated, value(metrics, "lowbit_generation_tokens_total"));
            assertEquals(ok, value(metrics, "lowbit_time_to_first_token_seconds_count"));
            assertEquals(generated - ok, value(metrics, "lowbit_inter_token_latency_seconds_count"));
            assertEquals(0, value(metrics, "lowbit_queue_depth"));
            for (String gauge : List.of("lowbit_running_sequences", "lowbit_batch_size", "lowbit_kv_blocks_free"))
                assertTrue(metrics.contains("\n" + gauge + " "), gauge);
        }
    }

    /** The value of the sample named (a regex) in Prometheus's text format. */
    private static double value(String metrics, String sample) {
        Matcher m = Pattern.compile("(?m)^" + sample + " (\\S+)$").matcher(metrics);
        assertTrue(m.find(), sample + " in\n" + metrics);
        return Double.parseDouble(m.group(1));
    }
}
