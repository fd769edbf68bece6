package dev.lowbit.bench.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A load generator for {@code ./lowbit serve} with vLLM's benchmark_serving metrics: N closed-loop
 * clients each stream chat completions (fixed max_tokens, ignoring the end token is not possible
 * over OpenAI's API, so output lengths are counted from usage). Per request: TTFT (send to first
 * text chunk), TPOT ((end - first chunk) / (output tokens - 1)), ITL (every gap between chunks);
 * per level: p50/p99 of each, output tokens/s and requests/s over the level's wall time, errors.
 *
 * <p>usage: ServeLoad BASE_URL OUT_JSON REQUESTS_PER_LEVEL MAX_TOKENS TIME_LIMIT_S LEVEL...
 */
public final class ServeLoad {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Sample(boolean ok, double ttftMs, double tpotMs, List<Double> itlMs, int outputTokens) {}

    public static void main(String[] args) throws Exception {
        String base = args[0];
        Path out = Path.of(args[1]);
        int requests = Integer.parseInt(args[2]);
        int maxTokens = Integer.parseInt(args[3]);
        long limitNanos = TimeUnit.SECONDS.toNanos(Long.parseLong(args[4]));
        HttpClient http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        ArrayNode levels = JSON.createArrayNode();
        System.out.printf(
                "%8s %6s %6s %9s %9s %9s %9s %9s %9s %10s %8s%n",
                "clients",
                "done",
                "errors",
                "TTFT p50",
                "TTFT p99",
                "TPOT p50",
                "TPOT p99",
                "ITL p50",
                "ITL p99",
                "out tok/s",
                "req/s");
        for (int a = 5; a < args.length; a++) {
            int clients = Integer.parseInt(args[a]);
            long start = System.nanoTime();
            long deadline = start + limitNanos;
            List<Future<List<Sample>>> futures = new ArrayList<>();
            int[] next = {0};
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int c = 0; c < clients; c++)
                    futures.add(pool.submit(() -> {
                        List<Sample> mine = new ArrayList<>();
                        while (System.nanoTime() < deadline) {
                            int i;
                            synchronized (next) {
                                if (next[0] >= requests) break;
                                i = next[0]++;
                            }
                            mine.add(request(http, base, i, maxTokens));
                        }
                        return mine;
                    }));
            }
            double wall = (System.nanoTime() - start) / 1e9;
            List<Sample> all = new ArrayList<>();
            for (Future<List<Sample>> f : futures) all.addAll(f.get());
            levels.add(summary(clients, all, wall));
        }
        ObjectNode report = JSON.createObjectNode().put("base_url", base).put("max_tokens", maxTokens);
        report.set("levels", levels);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, report.toPrettyString());
    }

    private static Sample request(HttpClient http, String base, int i, int maxTokens) {
        String body = "{\"model\":\"default\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"temperature\":0.8,\"seed\":" + i + ",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about letter " + i + ".\"}]}";
        long sent = System.nanoTime();
        try {
            HttpResponse<InputStream> res = http.send(
                    HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                            .header("Content-Type", "application/json")
                            .timeout(Duration.ofSeconds(120))
                            .POST(HttpRequest.BodyPublishers.ofString(body))
                            .build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            if (res.statusCode() != 200) {
                res.body().close();
                return new Sample(false, 0, 0, List.of(), 0);
            }
            long first = 0, last = 0;
            List<Double> itl = new ArrayList<>();
            int tokens = 0;
            boolean done = false;
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    if (!line.startsWith("data: ")) continue;
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        done = true;
                        break;
                    }
                    JsonNode chunk = JSON.readTree(data);
                    if (chunk.hasNonNull("usage"))
                        tokens = chunk.at("/usage/completion_tokens").asInt();
                    if (chunk.at("/choices/0/delta/content").asText("").isEmpty()) continue;
                    long now = System.nanoTime();
                    if (first == 0) first = now;
                    else itl.add((now - last) / 1e6);
                    last = now;
                }
            }
            if (!done || first == 0) return new Sample(false, 0, 0, List.of(), 0);
            double tpot = tokens > 1 ? (last - first) / 1e6 / (tokens - 1) : 0;
            return new Sample(true, (first - sent) / 1e6, tpot, itl, tokens);
        } catch (Exception e) {
            return new Sample(false, 0, 0, List.of(), 0);
        }
    }

    private static ObjectNode summary(int clients, List<Sample> all, double wall) {
        List<Sample> ok = all.stream().filter(Sample::ok).toList();
        double[] ttft = ok.stream().mapToDouble(Sample::ttftMs).toArray();
        double[] tpot = ok.stream()
                .filter(s -> s.outputTokens() > 1)
                .mapToDouble(Sample::tpotMs)
                .toArray();
        double[] itl = ok.stream()
                .flatMap(s -> s.itlMs().stream())
                .mapToDouble(Double::doubleValue)
                .toArray();
        long tokens = ok.stream().mapToLong(Sample::outputTokens).sum();
        ObjectNode level = JSON.createObjectNode()
                .put("clients", clients)
                .put("completed", ok.size())
                .put("errors", all.size() - ok.size())
                .put("wall_s", wall)
                .put("ttft_ms_p50", percentile(ttft, 50))
                .put("ttft_ms_p99", percentile(ttft, 99))
                .put("tpot_ms_p50", percentile(tpot, 50))
                .put("tpot_ms_p99", percentile(tpot, 99))
                .put("itl_ms_p50", percentile(itl, 50))
                .put("itl_ms_p99", percentile(itl, 99))
                .put("output_tokens_per_s", tokens / wall)
                .put("requests_per_s", ok.size() / wall);
        System.out.printf(
                "%8d %6d %6d %9.1f %9.1f %9.2f %9.2f %9.2f %9.2f %10.1f %8.2f%n",
                clients,
                ok.size(),
                all.size() - ok.size(),
                level.get("ttft_ms_p50").asDouble(),
                level.get("ttft_ms_p99").asDouble(),
                level.get("tpot_ms_p50").asDouble(),
                level.get("tpot_ms_p99").asDouble(),
                level.get("itl_ms_p50").asDouble(),
                level.get("itl_ms_p99").asDouble(),
                tokens / wall,
                ok.size() / wall);
        return level;
    }

    /** Nearest-rank percentile, NaN for no values. */
    private static double percentile(double[] values, double p) {
        if (values.length == 0) return Double.NaN;
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }
}
