package dev.lowbit.methods.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.io.AtomicFiles;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The figures every quantization method reports, under the same keys (DIR/metrics.json and --json):
 * peak_rss_mb counts the mapped checkpoint's pages, peak_anon_mb only what the run allocated.
 */
public record Metrics(
        String method,
        int wbits,
        int abits,
        int group,
        double fpPerplexity,
        double quantPerplexity,
        double klToFp,
        double trainableFraction,
        double seconds,
        double peakRssMb,
        double peakAnonMb) {
    /** The JSON object; figures that could not be measured (NaN, e.g. perplexity without a tokenizer) are null. */
    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper()
                .createObjectNode()
                .put("method", method)
                .put("wbits", wbits)
                .put("abits", abits)
                .put("group", group);
        number(o, "fp_perplexity", fpPerplexity);
        number(o, "quant_perplexity", quantPerplexity);
        number(o, "kl_to_fp", klToFp);
        number(o, "trainable_fraction", trainableFraction);
        number(o, "seconds", seconds);
        number(o, "peak_rss_mb", peakRssMb);
        number(o, "peak_anon_mb", peakAnonMb);
        return o;
    }

    private static void number(ObjectNode o, String key, double v) {
        if (Double.isFinite(v) && v >= 0) o.put(key, v);
        else o.putNull(key);
    }

    /** Writes json (toJson() with a method's extra keys) atomically. */
    public static void write(Path file, ObjectNode json) {
        byte[] bytes = (json.toPrettyString() + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> ch.write(ByteBuffer.wrap(bytes)));
    }
}
