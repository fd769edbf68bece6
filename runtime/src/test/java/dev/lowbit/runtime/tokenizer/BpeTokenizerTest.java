package dev.lowbit.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.io.CheckpointException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Byte-level BPE: training, exact round trips on arbitrary text, and Hugging Face tokenizer.json files. */
class BpeTokenizerTest {
    static final String CORPUS = """
            It is a truth universally acknowledged, that a single man in possession of a good fortune,
            must be in want of a wife. However little known the feelings or views of such a man may be
            on his first entering a neighbourhood, this truth is so well fixed in the minds of the
            surrounding families, that he is considered the rightful property of some one or other of
            their daughters. "My dear Mr. Bennet," said his lady to him one day, "have you heard that
            Netherfield Park is let at last?" Mr. Bennet replied that he had not.
            """.repeat(3);

    @TempDir
    Path dir;

    @Test
    void trainingLearnsFrequentWordsAndHitsTheVocabularySize() {
        BpeTokenizer t = BpeTrainer.train(CORPUS, 256 + 120 + 2, List.of("<s>", "</s>"), null);
        assertEquals(378, t.vocabSize());
        assertEquals(120, t.merges().size());
        assertEquals(1, t.encode(" the").length, "' the' is frequent enough to be one token");
        assertEquals(1, t.encode(" truth").length);
        assertEquals(376, t.specialId("<s>"));
        assertArrayEquals(new int[] {376}, t.encode("<s>"));
        // the same corpus trains the same tokenizer
        assertEquals(
                t.merges(),
                BpeTrainer.train(CORPUS, 378, List.of("<s>", "</s>"), null).merges());
    }

    /** Each merge is the most frequent adjacent pair, counted from scratch over the words merged so far. */
    @Test
    void everyMergeIsTheMostFrequentPairAtItsStep() {
        String corpus = "low lower lowest newer newest wider widest low low new";
        BpeTokenizer t = BpeTrainer.train(corpus, 256 + 8, List.of(), null);
        Map<String, Integer> words = new HashMap<>();
        for (String w : ByteLevel.split(ByteLevel.GPT2_SPLIT, corpus))
            words.merge(ByteLevel.encodeBytes(w), 1, Integer::sum);
        Map<String, List<String>> split = new HashMap<>();
        words.keySet()
                .forEach(w -> split.put(
                        w,
                        new ArrayList<>(w.chars()
                                .mapToObj(c -> String.valueOf((char) c))
                                .toList())));
        for (String merge : t.merges()) {
            Map<String, Integer> counts = new HashMap<>();
            split.forEach((w, parts) -> {
                for (int i = 0; i + 1 < parts.size(); i++)
                    counts.merge(parts.get(i) + " " + parts.get(i + 1), words.get(w), Integer::sum);
            });
            int max = counts.values().stream().max(Integer::compare).orElseThrow();
            assertEquals(max, counts.get(merge), "merge '" + merge + "' vs counts " + counts);
            String[] ab = merge.split(" ");
            split.values().forEach(parts -> {
                for (int i = 0; i + 1 < parts.size(); i++)
                    if (parts.get(i).equals(ab[0]) && parts.get(i + 1).equals(ab[1]))
                        parts.set(i, ab[0] + parts.remove(i + 1));
            });
        }
    }

    @Test
    void roundTripIsExactOnArbitraryUnicode() {
        BpeTokenizer t = BpeTrainer.train(CORPUS, 400, List.of("<s>"), null);
        Random rnd = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(40);
            for (int i = 0; i < len; i++) {
                int cp = switch (rnd.nextInt(5)) {
                    case 0 -> 32 + rnd.nextInt(95);
                    case 1 -> rnd.nextInt(32); // control characters, newlines, tabs
                    case 2 -> 0x80 + rnd.nextInt(0x800);
                    case 3 -> 0x1F300 + rnd.nextInt(0x300); // emoji, outside the BMP
                    default -> 0x4E00 + rnd.nextInt(0x5000);
                };
                sb.appendCodePoint(cp);
            }
            String text = sb.toString();
            assertEquals(
                    text,
                    t.decode(t.encode(text)),
                    "round trip of " + text.codePoints().boxed().toList());
        }
        assertEquals("<s>Hello 🌍\n\n", t.decode(t.encode("<s>Hello 🌍\n\n")));
    }

    @Test
    void savedTokenizerJsonLoadsBackIdentically() {
        BpeTokenizer t = BpeTrainer.train(CORPUS, 350, List.of("<s>", "</s>"), null);
        Path file = dir.resolve("tokenizer.json");
        TokenizerJson.save(t, file);
        BpeTokenizer back = TokenizerJson.load(file);
        assertEquals(t.vocabSize(), back.vocabSize());
        String text = "Mr. Bennet's daughters, 1813 — \"a truth\" </s>";
        assertArrayEquals(t.encode(text), back.encode(text));
        assertEquals(t.specialId("</s>"), back.specialId("</s>"));
    }

    /**
     * A tokenizer.json written by hand in the Hugging Face format, with merges as pairs (the newer
     * form) and a LLaMA-3-style Split pre-tokenizer; ids worked out by hand.
     */
    @Test
    void loadsAHandWrittenHuggingFaceFile() throws IOException {
        StringBuilder vocab = new StringBuilder();
        for (int b = 0; b < 256; b++) vocab.append(String.format("\"\\u%04x\": %d, ", (int) ByteLevel.charOf(b), b));
        vocab.append("\"ab\": 256, \"Ġab\": 257");
        String json = """
                {"added_tokens": [{"id": 258, "content": "<|end|>", "special": true}],
                 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                     {"type": "Split", "pattern": {"Regex": " ?\\\\p{L}+|\\\\s+"}, "behavior": "Isolated"},
                     {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
                 "model": {"type": "BPE", "byte_fallback": false, "vocab": {%s},
                           "merges": [["a", "b"], ["Ġ", "ab"]]}}
                """.formatted(vocab);
        Path file = dir.resolve("hf.json");
        Files.writeString(file, json);
        BpeTokenizer t = TokenizerJson.load(file);
        // "ab ab abc<|end|>": words "ab", " ab", " abc" -> [256], [257], [257, 'c'=99], then 258
        assertArrayEquals(new int[] {256, 257, 257, 99, 258}, t.encode("ab ab abc<|end|>"));
        assertEquals("ab ab abc<|end|>", t.decode(new int[] {256, 257, 257, 99, 258}));
    }

    @Test
    void unsupportedAndBrokenFilesAreClearErrors() throws IOException {
        Path sp = dir.resolve("sp.json");
        Files.writeString(
                sp, "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {}, \"merges\": []}}");
        CheckpointException e = assertThrows(CheckpointException.class, () -> TokenizerJson.load(sp));
        assertTrue(e.getMessage().contains("SentencePiece-style"), e.getMessage());
        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
        e = assertThrows(CheckpointException.class, () -> TokenizerJson.load(broken));
        assertTrue(e.getMessage().contains("not a valid tokenizer.json"), e.getMessage());
        e = assertThrows(CheckpointException.class, () -> TokenizerJson.load(dir.resolve("absent.json")));
        assertTrue(e.getMessage().endsWith("no such file"), e.getMessage());
    }
}
