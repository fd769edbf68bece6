package dev.lowbit.server;

import dev.lowbit.runtime.engine.EngineStats;
import dev.lowbit.runtime.engine.InferenceEngine;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;

/** /metrics in Prometheus's text format: requests, tokens, the scheduler's state and latencies. */
final class ServerMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Counter requests = Counter.builder()
            .name("lowbit_requests_total")
            .help("HTTP requests answered, by endpoint and status code")
            .labelNames("endpoint", "status")
            .register(registry);
    private final Counter promptTokens = Counter.builder()
            .name("lowbit_prompt_tokens_total")
            .help("prompt tokens of the generation requests admitted")
            .register(registry);
    private final Counter generatedTokens = Counter.builder()
            .name("lowbit_generation_tokens_total")
            .help("tokens generated")
            .register(registry);
    private final Histogram timeToFirstToken = Histogram.builder()
            .name("lowbit_time_to_first_token_seconds")
            .help("from a request's arrival to its first generated token")
            .classicOnly()
            .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
            .register(registry);
    private final Histogram interTokenLatency = Histogram.builder()
            .name("lowbit_inter_token_latency_seconds")
            .help("between consecutive generated tokens of a request (time per output token)")
            .classicOnly()
            .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
            .register(registry);

    ServerMetrics(Supplier<InferenceEngine> engine) {
        gauge("lowbit_queue_depth", "requests waiting for a sequence slot", engine, EngineStats::queued);
        gauge("lowbit_running_sequences", "sequences decoding now", engine, EngineStats::running);
        gauge("lowbit_batch_size", "rows of the last batched forward", engine, EngineStats::lastBatchRows);
        gauge("lowbit_kv_blocks_free", "free blocks of the KV cache pool", engine, EngineStats::kvBlocksFree);
        gauge("lowbit_kv_blocks_total", "blocks of the KV cache pool", engine, EngineStats::kvBlocksTotal);
    }

    private void gauge(String name, String help, Supplier<InferenceEngine> engine, ToIntFunction<EngineStats> value) {
        GaugeWithCallback.builder()
                .name(name)
                .help(help)
                .callback(cb -> {
                    InferenceEngine e = engine.get();
                    if (e != null) cb.call(value.applyAsInt(e.stats()));
                })
                .register(registry);
    }

    void request(String endpoint, int status) {
        requests.labelValues(endpoint, String.valueOf(status)).inc();
    }

    void admitted(int prompt) {
        promptTokens.inc(prompt);
    }

    void firstToken(long nanosSinceArrival) {
        generatedTokens.inc();
        timeToFirstToken.observe(nanosSinceArrival / 1e9);
    }

    void nextToken(long nanosSincePrevious) {
        generatedTokens.inc();
        interTokenLatency.observe(nanosSincePrevious / 1e9);
    }

    String contentType() {
        return writer.getContentType();
    }

    void write(OutputStream out) throws IOException {
        writer.write(out, registry.scrape());
    }
}
