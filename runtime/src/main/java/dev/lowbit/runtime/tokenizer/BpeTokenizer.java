package dev.lowbit.runtime.tokenizer;

import dev.lowbit.runtime.LowbitException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * A byte-level BPE tokenizer (GPT-2 / Llama 3 style): regex pre-tokenization, byte-to-character
 * mapping, merges applied by rank. Special tokens (e.g. {@code <s>}) are matched verbatim before
 * pre-tokenization. Immutable and thread-safe; encodings of words are memoised.
 */
public final class BpeTokenizer {
    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<String, Integer> mergeRanks;
    private final List<String> merges;
    private final Map<String, Integer> specialTokens;
    private final Pattern split;
    private final Pattern specialSplit;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    BpeTokenizer(Map<String, Integer> vocab, List<String> merges, Map<String, Integer> specialTokens, Pattern split) {
        this.vocab = Map.copyOf(vocab);
        this.merges = List.copyOf(merges);
        this.specialTokens = Map.copyOf(specialTokens);
        this.split = split;
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (int id : specialTokens.values()) size = Math.max(size, id + 1);
        idToToken = new String[size];
        vocab.forEach((t, id) -> idToToken[id] = t);
        specialTokens.forEach((t, id) -> idToToken[id] = t);
        mergeRanks = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) {
            String[] pair = merges.get(i).split(" ", -1);
            if (pair.length != 2
                    || !vocab.containsKey(pair[0])
                    || !vocab.containsKey(pair[1])
                    || !vocab.containsKey(pair[0] + pair[1]))
                throw new LowbitException("merge " + i + " '" + merges.get(i)
                        + "' does not join two tokens of the vocabulary into a third");
            mergeRanks.putIfAbsent(merges.get(i), i);
        }
        for (int b = 0; b < 256; b++)
            if (!vocab.containsKey(String.valueOf(ByteLevel.charOf(b))))
                throw new LowbitException("the vocabulary lacks byte " + b + ": a byte-level BPE needs all 256");
        specialSplit = specialTokens.isEmpty()
                ? null
                : Pattern.compile(specialTokens.keySet().stream()
                        .sorted((a, b) -> b.length() - a.length())
                        .map(Pattern::quote)
                        .reduce((a, b) -> a + "|" + b)
                        .orElseThrow());
    }

    public int vocabSize() {
        return idToToken.length;
    }

    public List<String> merges() {
        return merges;
    }

    public Map<String, Integer> vocab() {
        return vocab;
    }

    public Map<String, Integer> specialTokens() {
        return specialTokens;
    }

    public Pattern splitPattern() {
        return split;
    }

    /** Id of a special token such as "<s>", or -1. */
    public int specialId(String token) {
        return specialTokens.getOrDefault(token, -1);
    }

    public String token(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null)
            throw new LowbitException("no token with id " + id);
        return idToToken[id];
    }

    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        if (specialSplit == null) {
            encodeOrdinary(text, ids);
        } else {
            var m = specialSplit.matcher(text);
            int at = 0;
            while (m.find()) {
                encodeOrdinary(text.substring(at, m.start()), ids);
                ids.add(specialTokens.get(m.group()));
                at = m.end();
            }
            encodeOrdinary(text.substring(at), ids);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private void encodeOrdinary(String text, List<Integer> ids) {
        for (String word : ByteLevel.split(split, text))
            for (int id : cache.computeIfAbsent(word, this::encodeWord)) ids.add(id);
    }

    /** BPE on one pre-tokenized word: repeatedly merge the adjacent pair of lowest rank. */
    private int[] encodeWord(String word) {
        String chars = ByteLevel.encodeBytes(word);
        List<String> parts = new ArrayList<>(chars.length());
        for (int i = 0; i < chars.length(); i++) parts.add(String.valueOf(chars.charAt(i)));
        while (parts.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer rank = mergeRanks.get(parts.get(i) + " " + parts.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    best = i;
                }
            }
            if (best < 0) break;
            parts.set(best, parts.get(best) + parts.remove(best + 1));
        }
        int[] out = new int[parts.size()];
        for (int i = 0; i < out.length; i++) out[i] = vocab.get(parts.get(i));
        return out;
    }

    /** The text of ids; byte sequences that are not valid UTF-8 decode to U+FFFD, as Hugging Face does. */
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            String t = token(id);
            if (specialTokens.containsKey(t) || !ByteLevel.appendBytes(t, bytes))
                bytes.writeBytes(t.getBytes(StandardCharsets.UTF_8));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** Unmodifiable view of id -> token, for export. */
    public List<String> tokens() {
        return Collections.unmodifiableList(Arrays.asList(idToToken));
    }
}
