package dev.lowbit.runtime.io;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.LlamaConfig;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The shape of a LLaMA model without its weights: a named preset of a published model, or DIMS
 * such as {@code dim=256,hidden=688,layers=2,heads=8,kv_heads=4,vocab=512[,ctx=..,rope_theta=..,eps=..]}.
 * bos and eos are the ids the model's tokenizer uses, written to config.json.
 */
public record ModelShape(String name, LlamaConfig config, int bos, int eos) {
    /** The presets, by the name {@code --shape} takes (figures from each model's published config.json). */
    public static final Map<String, ModelShape> PRESETS = presets();

    private static final Set<String> DIMS_KEYS =
            Set.of("dim", "hidden", "layers", "heads", "kv_heads", "vocab", "ctx", "rope_theta", "eps");

    private static Map<String, ModelShape> presets() {
        Map<String, ModelShape> p = new LinkedHashMap<>();
        p.put(
                "tinyllama-1.1b",
                new ModelShape(
                        "tinyllama-1.1b",
                        new LlamaConfig(2048, 5632, 22, 32, 4, 32000, 2048, 1e-5f, 10000f, false),
                        1,
                        2));
        p.put(
                "llama-7b",
                new ModelShape(
                        "llama-7b", new LlamaConfig(4096, 11008, 32, 32, 32, 32000, 4096, 1e-5f, 10000f, false), 1, 2));
        p.put(
                "llama-13b",
                new ModelShape(
                        "llama-13b",
                        new LlamaConfig(5120, 13824, 40, 40, 40, 32000, 4096, 1e-5f, 10000f, false),
                        1,
                        2));
        p.put(
                "llama3-8b",
                new ModelShape(
                        "llama3-8b",
                        new LlamaConfig(4096, 14336, 32, 32, 8, 128256, 8192, 1e-5f, 500000f, false),
                        128000,
                        128001));
        return Map.copyOf(p);
    }

    /** A preset name or DIMS; a bad string is a one-line error listing what is accepted. */
    public static ModelShape parse(String text) {
        ModelShape preset = PRESETS.get(text.trim().toLowerCase(Locale.ROOT));
        if (preset != null) return preset;
        if (!text.contains("="))
            throw new LowbitException(
                    "unknown shape '" + text + "': give tinyllama-1.1b, llama-7b, llama-13b, llama3-8b or DIMS "
                            + "like dim=256,hidden=688,layers=2,heads=8,kv_heads=4,vocab=512");
        Map<String, String> kv = new LinkedHashMap<>();
        for (String part : text.split(",")) {
            String[] pair = part.split("=", 2);
            String key = pair[0].trim();
            if (pair.length != 2 || !DIMS_KEYS.contains(key))
                throw new LowbitException("bad shape '" + text + "': '" + part + "' is not one of "
                        + String.join("=, ", DIMS_KEYS.stream().sorted().toList()) + "=");
            if (kv.put(key, pair[1].trim()) != null)
                throw new LowbitException("bad shape '" + text + "': " + key + " given twice");
        }
        for (String k : new String[] {"dim", "hidden", "layers", "heads", "vocab"})
            if (!kv.containsKey(k)) throw new LowbitException("bad shape '" + text + "': missing " + k + "=");
        int heads = intOf(text, kv, "heads", 0);
        try {
            LlamaConfig c = new LlamaConfig(
                    intOf(text, kv, "dim", 0),
                    intOf(text, kv, "hidden", 0),
                    intOf(text, kv, "layers", 0),
                    heads,
                    intOf(text, kv, "kv_heads", heads),
                    intOf(text, kv, "vocab", 0),
                    intOf(text, kv, "ctx", 2048),
                    floatOf(text, kv, "eps", 1e-5f),
                    floatOf(text, kv, "rope_theta", 10000f),
                    false);
            return new ModelShape(text, c, 1, 2);
        } catch (LowbitException e) {
            if (e.getMessage().startsWith("bad shape")) throw e;
            throw new LowbitException("bad shape '" + text + "': " + e.getMessage());
        }
    }

    private static int intOf(String text, Map<String, String> kv, String key, int fallback) {
        String v = kv.get(key);
        if (v == null) return fallback;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new LowbitException("bad shape '" + text + "': " + key + "=" + v + " is not an integer");
        }
    }

    private static float floatOf(String text, Map<String, String> kv, String key, float fallback) {
        String v = kv.get(key);
        if (v == null) return fallback;
        try {
            return Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new LowbitException("bad shape '" + text + "': " + key + "=" + v + " is not a number");
        }
    }
}
