package dev.lowbit.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;

/**
 * The timings llama.cpp users look for: load, the prompt phase (from the start of generation to
 * the first token: the prompt's forward pass and the first sample) and decode (every later token).
 */
final class GenerationTimer {
    private final long created = System.nanoTime();
    private long loaded, started, first, stopped;
    private int promptTokens, generated;

    void loaded() {
        loaded = System.nanoTime();
    }

    void start(int promptTokens) {
        this.promptTokens = promptTokens;
        started = System.nanoTime();
    }

    /** Called as each token is chosen. */
    void token() {
        if (generated++ == 0) first = System.nanoTime();
    }

    void stop() {
        stopped = System.nanoTime();
        if (generated == 0) first = stopped;
    }

    private static double ms(long from, long to) {
        return (to - from) / 1e6;
    }

    private double promptTokensPerSecond() {
        return promptTokens / (ms(started, first) / 1e3);
    }

    private int decodeTokens() {
        return Math.max(0, generated - 1);
    }

    private double decodeTokensPerSecond() {
        return decodeTokens() / (ms(first, stopped) / 1e3);
    }

    void print(PrintWriter err) {
        err.printf("load:      %.1f ms%n", ms(created, loaded));
        err.printf(
                "prompt:    %d tokens in %.1f ms (%.1f tokens/s)%n",
                promptTokens, ms(started, first), promptTokensPerSecond());
        err.printf(
                "decode:    %d tokens in %.1f ms (%.1f tokens/s)%n",
                decodeTokens(), ms(first, stopped), decodeTokensPerSecond());
        err.printf("generated: %d tokens in %.1f ms%n", generated, ms(started, stopped));
        err.flush();
    }

    /** The same figures under JSON keys; a rate with no tokens to time is null. */
    void put(ObjectNode json) {
        json.put("load_ms", ms(created, loaded))
                .put("prompt_tokens", promptTokens)
                .put("prompt_ms", ms(started, first));
        rate(json, "prompt_tokens_per_second", promptTokensPerSecond());
        json.put("generated_tokens", generated)
                .put("decode_tokens", decodeTokens())
                .put("decode_ms", ms(first, stopped));
        rate(json, "decode_tokens_per_second", decodeTokensPerSecond());
    }

    private static void rate(ObjectNode json, String key, double v) {
        if (Double.isFinite(v)) json.put(key, v);
        else json.putNull(key);
    }
}
