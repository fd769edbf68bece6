package dev.lowbit.runtime.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A byte-level BPE as llama.cpp's GGUF metadata holds it (tokenizer.ggml.model "gpt2"): one token
 * text per id, a type per id (1 normal, 3 control for special tokens, 5 unused for ids the
 * tokenizer leaves empty), merges as "a b" strings, and the pre-tokenizer's name ("gpt-2" for
 * GPT-2's split, "llama-bpe" for Llama 3's).
 */
public record GgufVocab(List<String> tokens, int[] types, List<String> merges, String pre) {
    public static final int NORMAL = 1, CONTROL = 3, UNUSED = 5;

    /** Llama 3's split (tokenizer.ggml.pre "llama-bpe"). */
    private static final Pattern LLAMA3_SPLIT = Pattern.compile(
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                    + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");

    /** t's vocabulary padded to size ids (a model's embedding may have more rows than the tokenizer has tokens). */
    public static GgufVocab of(BpeTokenizer t, int size) {
        String pre = t.splitPattern().pattern().equals(ByteLevel.GPT2_SPLIT.pattern())
                ? "gpt-2"
                : t.splitPattern().pattern().equals(LLAMA3_SPLIT.pattern()) ? "llama-bpe" : null;
        if (pre == null)
            throw new IllegalArgumentException("the tokenizer's split regex has no llama.cpp pre-tokenizer name");
        List<String> tokens = new ArrayList<>(size);
        int[] types = new int[size];
        List<String> all = t.tokens();
        for (int id = 0; id < size; id++) {
            String text = id < all.size() ? all.get(id) : null;
            tokens.add(text != null ? text : "[PAD" + id + "]");
            types[id] = text == null ? UNUSED : t.specialTokens().containsKey(text) ? CONTROL : NORMAL;
        }
        return new GgufVocab(List.copyOf(tokens), types, t.merges(), pre);
    }

    /**
     * The tokenizer these tokens make, or empty where lowbit has no such pre-tokenizer (the model
     * then runs on token ids); control tokens become special tokens, unused ids stay out.
     */
    public Optional<BpeTokenizer> tokenizer() {
        Pattern split = switch (pre) {
            case "gpt-2", "gpt2", "default" -> ByteLevel.GPT2_SPLIT;
            case "llama-bpe", "llama3" -> LLAMA3_SPLIT;
            default -> null;
        };
        if (split == null) return Optional.empty();
        Map<String, Integer> vocab = new HashMap<>(), special = new HashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            int type = types == null || id >= types.length ? NORMAL : types[id];
            if (type == CONTROL) special.put(tokens.get(id), id);
            else if (type != UNUSED) vocab.putIfAbsent(tokens.get(id), id);
        }
        return Optional.of(new BpeTokenizer(vocab, merges, special, split));
    }
}
