package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.tensor.HostMemory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * The numbers a checkpoint declares, each checked against its range before anything is
 * allocated from it; a refusal names the file, the field as the file spells it and what it may be.
 */
final class ConfigFields {
    /** Allowed ranges of the model dimensions (generous: llama3-405b is 16384 wide with a 128256 vocabulary). */
    static final int MAX_DIM = 1 << 16, MAX_HIDDEN = 1 << 20, MAX_LAYERS = 1024, MAX_VOCAB = 1 << 22;

    private final Path file;
    private final String prefix;

    ConfigFields(Path file) {
        this(file, "");
    }

    /** Fields of a nested object, named in messages with the prefix (e.g. "quantization_config."). */
    ConfigFields(Path file, String prefix) {
        this.file = file;
        this.prefix = prefix;
    }

    /** An integer field of a JSON object; fallback when absent (null: required). */
    int integer(JsonNode c, String name, Integer fallback, long min, long max) {
        JsonNode v = c.get(name);
        if (v == null || v.isNull()) {
            if (fallback == null)
                throw bad(prefix + name + " is missing: give it as an integer from " + min + " to " + fmt(max));
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong())
            throw bad(prefix + name + " is " + v + ", not an integer: give an integer from " + min + " to " + fmt(max));
        return (int) range(prefix + name, v.asLong(), min, max);
    }

    /** One of the allowed integers. */
    int oneOf(JsonNode c, String name, int fallback, int... allowed) {
        int v = integer(c, name, fallback, Integer.MIN_VALUE, Integer.MAX_VALUE);
        if (Arrays.stream(allowed).noneMatch(a -> a == v))
            throw bad(prefix + name + " " + v + " is not supported: give one of " + Arrays.toString(allowed));
        return v;
    }

    /** A finite number above zero and at most max. */
    float positive(JsonNode c, String name, double fallback, double max) {
        JsonNode v = c.get(name);
        if (v == null || v.isNull()) return (float) fallback;
        if (!v.isNumber()) throw bad(prefix + name + " is " + v + ", not a number: give a number above 0 up to " + max);
        double d = v.asDouble();
        if (!(d > 0 && d <= max) || !Float.isFinite((float) d) || (float) d == 0)
            throw bad(prefix + name + " " + d + " is out of range: give a number above 0 up to " + max);
        return (float) d;
    }

    boolean bool(JsonNode c, String name, boolean fallback) {
        JsonNode v = c.get(name);
        if (v == null || v.isNull()) return fallback;
        if (!v.isBoolean()) throw bad(prefix + name + " is " + v + ", not true or false");
        return v.asBoolean();
    }

    long range(String name, long v, long min, long max) {
        if (v < min || v > max) throw bad(name + " " + v + " is out of range: give " + min + " to " + fmt(max));
        return v;
    }

    /**
     * The model's dimensions in the file's names (dim, hidden, layers, heads, kv heads, vocabulary,
     * context), range-checked, then the divisibility the architecture needs.
     */
    LlamaConfig model(String[] names, long[] v, float eps, float theta, boolean tied) {
        long[] max = {MAX_DIM, MAX_HIDDEN, MAX_LAYERS, MAX_DIM, MAX_DIM, MAX_VOCAB, Integer.MAX_VALUE};
        for (int i = 0; i < 7; i++) range(names[i], v[i], 1, max[i]);
        if (v[0] % v[3] != 0) throw bad(names[0] + " " + v[0] + " is not a multiple of " + names[3] + " " + v[3]);
        if (v[3] % v[4] != 0) throw bad(names[3] + " " + v[3] + " is not a multiple of " + names[4] + " " + v[4]);
        if ((v[0] / v[3]) % 2 != 0)
            throw bad("the head size " + names[0] + " / " + names[3] + " = " + v[0] / v[3]
                    + " is odd; rotary embeddings need it even");
        return new LlamaConfig(
                (int) v[0], (int) v[1], (int) v[2], (int) v[3], (int) v[4], (int) v[5], (int) v[6], eps, theta, tied);
    }

    /**
     * Refuses, before anything is allocated from it, a config that describes more parameters than
     * its weight files can hold at minBytes per parameter (a config that belongs to other weights).
     */
    void fitsWeights(LlamaConfig c, Iterable<Path> weightFiles, double minBytes) {
        long bytes = 0;
        for (Path f : weightFiles) bytes += f.toFile().length();
        long params = c.parameterCount();
        if (params * minBytes > bytes)
            throw bad(String.format(
                    Locale.ROOT,
                    "describes %,d parameters but the weight files hold only %,d bytes: "
                            + "this config.json does not belong to these weights",
                    params,
                    bytes));
    }

    /** Refuses a model whose fp32 copy would not fit the machine's memory (the training paths widen it whole). */
    static void fitsInFp32(LlamaConfig c) {
        long params = c.parameterCount();
        HostMemory.require(
                String.format(Locale.ROOT, "the model's %,d parameters in fp32", params),
                HostMemory.product(params, Float.BYTES),
                "use a machine with more memory");
    }

    CheckpointException bad(String why) {
        return new CheckpointException(file + ": " + why);
    }

    private static String fmt(long v) {
        return String.format(Locale.ROOT, "%,d", v);
    }
}
