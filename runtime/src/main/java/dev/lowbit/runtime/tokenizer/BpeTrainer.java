package dev.lowbit.runtime.tokenizer;

import dev.lowbit.runtime.LowbitException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * Learns a byte-level BPE from text: words from GPT-2's split, the 256 byte symbols to start,
 * then repeatedly the most frequent adjacent pair merged into a new symbol (ties broken by the
 * pair's text, so training is deterministic), until the vocabulary has the requested size.
 * Pair counts are updated incrementally, only in the words a merge touches.
 */
public final class BpeTrainer {
    private BpeTrainer() {}

    /**
     * @param vocabSize total size including the 256 bytes and the special tokens
     * @param specialTokens tokens such as "<s>" and "</s>", given the ids after the learned ones
     * @param progress receives the number of merges done so far (may be null)
     */
    public static BpeTokenizer train(String corpus, int vocabSize, List<String> specialTokens, IntConsumer progress) {
        int mergesWanted = vocabSize - 256 - specialTokens.size();
        if (mergesWanted < 0)
            throw new LowbitException("vocabulary of " + vocabSize + " cannot hold 256 bytes and "
                    + specialTokens.size() + " special tokens");
        Map<String, Integer> wordFreq = new HashMap<>();
        for (String w : ByteLevel.split(ByteLevel.GPT2_SPLIT, corpus))
            wordFreq.merge(ByteLevel.encodeBytes(w), 1, Integer::sum);

        List<String> symbols = new ArrayList<>();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            symbols.add(String.valueOf(ByteLevel.charOf(b)));
            vocab.put(symbols.get(b), b);
        }
        int[][] words = new int[wordFreq.size()][];
        int[] freq = new int[words.length];
        int wi = 0;
        for (Map.Entry<String, Integer> e : wordFreq.entrySet()) {
            String chars = e.getKey();
            int[] w = new int[chars.length()];
            for (int i = 0; i < w.length; i++) w[i] = vocab.get(String.valueOf(chars.charAt(i)));
            words[wi] = w;
            freq[wi++] = e.getValue();
        }
        Map<Long, Long> pairCount = new HashMap<>();
        Map<Long, Set<Integer>> pairWords = new HashMap<>();
        for (int i = 0; i < words.length; i++) countPairs(words[i], i, freq[i], +1, pairCount, pairWords);

        List<String> merges = new ArrayList<>();
        while (merges.size() < mergesWanted && !pairCount.isEmpty()) {
            long best = -1;
            long bestCount = 0;
            for (Map.Entry<Long, Long> e : pairCount.entrySet()) {
                long c = e.getValue();
                if (c > bestCount
                        || (c == bestCount
                                && c > 0
                                && pairText(e.getKey(), symbols).compareTo(pairText(best, symbols)) < 0)) {
                    best = e.getKey();
                    bestCount = c;
                }
            }
            if (bestCount == 0) break;
            int a = (int) (best >>> 32), b = (int) best;
            int merged = symbols.size();
            symbols.add(symbols.get(a) + symbols.get(b));
            vocab.put(symbols.get(merged), merged);
            merges.add(symbols.get(a) + " " + symbols.get(b));
            for (int w : new ArrayList<>(pairWords.getOrDefault(best, Set.of()))) {
                countPairs(words[w], w, freq[w], -1, pairCount, pairWords);
                words[w] = applyMerge(words[w], a, b, merged);
                countPairs(words[w], w, freq[w], +1, pairCount, pairWords);
            }
            if (progress != null) progress.accept(merges.size());
        }
        Map<String, Integer> special = new LinkedHashMap<>();
        for (String s : specialTokens) special.put(s, symbols.size() + special.size());
        return new BpeTokenizer(vocab, merges, special, ByteLevel.GPT2_SPLIT);
    }

    private static String pairText(long pair, List<String> symbols) {
        if (pair < 0) return "\uffff";
        return symbols.get((int) (pair >>> 32)) + " " + symbols.get((int) pair);
    }

    private static void countPairs(
            int[] w, int index, int f, int sign, Map<Long, Long> counts, Map<Long, Set<Integer>> where) {
        for (int i = 0; i + 1 < w.length; i++) {
            long key = ((long) w[i] << 32) | (w[i + 1] & 0xFFFFFFFFL);
            long c = counts.merge(key, (long) sign * f, Long::sum);
            if (c == 0) counts.remove(key);
            if (sign > 0) where.computeIfAbsent(key, k -> new HashSet<>()).add(index);
        }
    }

    private static int[] applyMerge(int[] w, int a, int b, int merged) {
        int[] out = new int[w.length];
        int n = 0;
        for (int i = 0; i < w.length; i++) {
            if (i + 1 < w.length && w[i] == a && w[i + 1] == b) {
                out[n++] = merged;
                i++;
            } else {
                out[n++] = w[i];
            }
        }
        return Arrays.copyOf(out, n);
    }
}
