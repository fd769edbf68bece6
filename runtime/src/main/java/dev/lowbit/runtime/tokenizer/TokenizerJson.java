package dev.lowbit.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.io.AtomicFiles;
import dev.lowbit.runtime.io.CheckpointException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Hugging Face {@code tokenizer.json} for byte-level BPE models: written as the tokenizers library
 * writes a ByteLevel BPE, read back from it or from LLaMA-3-style files (a Split regex followed by
 * ByteLevel). SentencePiece-style (Metaspace, byte fallback) files are refused with a clear error.
 */
public final class TokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerJson() {}

    public static void save(BpeTokenizer t, Path path) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        t.specialTokens().entrySet().stream()
                .sorted(Map.Entry.comparingByValue())
                .forEach(e -> added.addObject()
                        .put("id", e.getValue())
                        .put("content", e.getKey())
                        .put("single_word", false)
                        .put("lstrip", false)
                        .put("rstrip", false)
                        .put("normalized", false)
                        .put("special", true));
        root.putNull("normalizer");
        root.putObject("pre_tokenizer")
                .put("type", "ByteLevel")
                .put("add_prefix_space", false)
                .put("trim_offsets", true)
                .put("use_regex", true);
        root.putNull("post_processor");
        root.putObject("decoder")
                .put("type", "ByteLevel")
                .put("add_prefix_space", true)
                .put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE")
                .putNull("dropout")
                .putNull("unk_token")
                .putNull("continuing_subword_prefix")
                .putNull("end_of_word_suffix")
                .put("fuse_unk", false)
                .put("byte_fallback", false)
                .put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        t.vocab().entrySet().stream()
                .sorted(Map.Entry.comparingByValue())
                .forEach(e -> vocab.put(e.getKey(), e.getValue()));
        ArrayNode merges = model.putArray("merges");
        t.merges().forEach(merges::add);
        byte[] bytes;
        try {
            bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
        } catch (IOException e) {
            throw new CheckpointException("cannot serialise tokenizer: " + e.getMessage(), e);
        }
        AtomicFiles.write(path, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }

    public static BpeTokenizer load(Path path) {
        JsonNode root;
        try {
            root = JSON.readTree(path.toFile());
        } catch (NoSuchFileException | FileNotFoundException e) {
            throw new CheckpointException(path + ": no such file");
        } catch (IOException e) {
            throw new CheckpointException(path + ": not a valid tokenizer.json (" + e.getMessage() + ")", e);
        }
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText()))
            throw bad(path, "model type '" + model.path("type").asText() + "' is not BPE");
        if (model.path("byte_fallback").asBoolean(false) || hasType(root.path("pre_tokenizer"), "Metaspace"))
            throw bad(
                    path,
                    "SentencePiece-style (Metaspace / byte fallback) tokenizers are not supported; byte-level BPE only");
        Pattern split = splitPattern(path, root.path("pre_tokenizer"));
        if (!model.path("vocab").isObject()) throw bad(path, "model.vocab is not an object of token: id");
        // ids are dense in real tokenizers; anything far beyond the token count is damage, not a gap
        int maxId = Math.min(
                1 << 22,
                2 * (model.path("vocab").size() + root.path("added_tokens").size()) + 1024);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (var it = model.path("vocab").fields(); it.hasNext(); ) {
            var e = it.next();
            vocab.put(e.getKey(), id(path, "model.vocab['" + e.getKey() + "']", e.getValue(), maxId));
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual())
                merges.add(m.get(0).asText() + " " + m.get(1).asText());
            else if (m.isTextual()) merges.add(m.asText());
            else throw bad(path, "merge " + m + " is neither \"a b\" nor [\"a\", \"b\"]");
        }
        Map<String, Integer> special = new LinkedHashMap<>();
        for (JsonNode a : root.path("added_tokens")) {
            if (!a.path("content").isTextual()) throw bad(path, "added token " + a + " has no text content");
            String content = a.path("content").asText();
            int id = id(path, "added token '" + content + "'", a.path("id"), maxId);
            if (!vocab.containsKey(content) || vocab.get(content) != id) special.put(content, id);
            vocab.remove(content);
        }
        Set<Integer> seen = new HashSet<>();
        for (var e : vocab.entrySet())
            if (!seen.add(e.getValue())) throw bad(path, "id " + e.getValue() + " is given to two tokens");
        try {
            return new BpeTokenizer(vocab, merges, special, split);
        } catch (RuntimeException e) {
            throw bad(path, e.getMessage());
        }
    }

    private static int id(Path path, String what, JsonNode v, int maxId) {
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0 || v.asInt() >= maxId)
            throw bad(path, what + " has id " + v + ": ids are integers from 0 to " + (maxId - 1));
        return v.asInt();
    }

    /** GPT-2's split for a plain ByteLevel pre-tokenizer, or the regex of a Split inside a Sequence. */
    private static Pattern splitPattern(Path path, JsonNode pre) {
        if ("ByteLevel".equals(pre.path("type").asText())) return ByteLevel.GPT2_SPLIT;
        if ("Sequence".equals(pre.path("type").asText()))
            for (JsonNode p : pre.path("pretokenizers"))
                if ("Split".equals(p.path("type").asText()) && p.path("pattern").has("Regex"))
                    try {
                        return Pattern.compile(p.path("pattern").path("Regex").asText());
                    } catch (PatternSyntaxException e) {
                        throw bad(path, "the pre-tokenizer's Split regex is invalid: " + e.getDescription());
                    }
        throw bad(path, "pre-tokenizer " + pre + " is not ByteLevel or a Split regex followed by ByteLevel");
    }

    private static boolean hasType(JsonNode node, String type) {
        if (type.equals(node.path("type").asText())) return true;
        for (JsonNode child : node.path("pretokenizers")) if (hasType(child, type)) return true;
        return false;
    }

    private static CheckpointException bad(Path path, String why) {
        return new CheckpointException(path + ": not a usable tokenizer.json: " + why);
    }
}
