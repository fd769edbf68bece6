package dev.lowbit.methods.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.IoReason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;

/**
 * Multiple-choice tasks: jsonl loaders for the standard sets (the format is recognised from each
 * line's fields: HellaSwag, PIQA, ARC in both its original and Hugging Face layouts, WinoGrande,
 * BoolQ), prompts as lm-evaluation-harness writes them, and two tasks built from held-out text.
 */
public final class McTasks {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SENTENCE_END = Pattern.compile("(?<=[.!?][\"”’']?)\\s+");

    private McTasks() {}

    public static List<McItem> load(Path jsonl) {
        List<McItem> items = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(jsonl);
        } catch (IOException e) {
            throw new LowbitException("cannot read " + jsonl + ": " + IoReason.of(e, jsonl), e);
        }
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            try {
                items.add(parse(JSON.readTree(lines.get(i))));
            } catch (IOException | RuntimeException e) {
                throw new LowbitException(jsonl + " line " + (i + 1) + ": " + e.getMessage());
            }
        }
        return items;
    }

    static McItem parse(JsonNode n) {
        if (n.has("endings")) // HellaSwag
        return McItem.shared(
                    n.path("ctx").asText(),
                    prefixed(strings(n.get("endings"))),
                    n.path("label").asInt());
        if (n.has("goal")) // PIQA
        return McItem.shared(
                    "Question: " + n.path("goal").asText() + "\nAnswer:",
                    prefixed(List.of(n.path("sol1").asText(), n.path("sol2").asText())),
                    n.path("label").asInt());
        if (n.has("option1")) { // WinoGrande: the option fills the blank; score what follows it
            String s = n.path("sentence").asText();
            int blank = s.indexOf('_');
            if (blank < 0) throw new LowbitException("WinoGrande sentence without a blank: " + s);
            String rest = " " + s.substring(blank + 1).strip();
            return new McItem(
                    List.of(
                            s.substring(0, blank) + n.path("option1").asText(),
                            s.substring(0, blank) + n.path("option2").asText()),
                    List.of(rest, rest),
                    n.path("answer").asInt() - 1);
        }
        if (n.has("passage")) // BoolQ
        return McItem.shared(
                    n.path("passage").asText() + "\nQuestion: "
                            + n.path("question").asText() + "?\nAnswer:",
                    List.of(" no", " yes"),
                    n.path("answer").asBoolean() ? 1 : 0);
        if (n.has("answerKey")) { // ARC: {"question": {"stem", "choices": [...]}} or {"question", "choices": {"text",
            // "label"}}
            JsonNode q = n.get("question");
            String stem = q.isObject() ? q.path("stem").asText() : q.asText();
            List<String> texts = new ArrayList<>(), labels = new ArrayList<>();
            if (q.isObject()) {
                for (JsonNode c : q.path("choices")) {
                    texts.add(c.path("text").asText());
                    labels.add(c.path("label").asText());
                }
            } else {
                texts.addAll(strings(n.path("choices").path("text")));
                labels.addAll(strings(n.path("choices").path("label")));
            }
            return McItem.shared(
                    "Question: " + stem + "\nAnswer:",
                    prefixed(texts),
                    labels.indexOf(n.path("answerKey").asText()));
        }
        throw new LowbitException("unrecognised task format (fields " + iterable(n)
                + "); expected HellaSwag, PIQA, ARC, WinoGrande or BoolQ");
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        for (JsonNode e : array) out.add(e.asText());
        return out;
    }

    private static List<String> prefixed(List<String> choices) {
        return choices.stream().map(c -> " " + c.strip()).toList();
    }

    private static List<String> iterable(JsonNode n) {
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }

    /** Sentences of the text with at least minWords words, whitespace collapsed. */
    static List<String> sentences(String text, int minWords) {
        List<String> out = new ArrayList<>();
        for (String s : SENTENCE_END.split(text.replaceAll("\\s+", " ").strip()))
            if (s.split(" ").length >= minWords) out.add(s);
        return out;
    }

    /**
     * True next sentence among four: context is a sentence, the choices its successor and three
     * sentences drawn from elsewhere in the text (seeded), in a seeded order.
     */
    public static List<McItem> nextSentence(String text, int count, long seed) {
        List<String> s = sentences(text, 4);
        if (s.size() < 8) throw new LowbitException("the text has too few sentences for the next-sentence task");
        Random rnd = new Random(seed);
        List<McItem> items = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            int i = rnd.nextInt(s.size() - 1);
            List<String> choices = new ArrayList<>(List.of(" " + s.get(i + 1)));
            while (choices.size() < 4) {
                int j = rnd.nextInt(s.size());
                if (Math.abs(j - i - 1) > 1 && !choices.contains(" " + s.get(j))) choices.add(" " + s.get(j));
            }
            Collections.shuffle(choices, rnd);
            items.add(McItem.shared(s.get(i), choices, choices.indexOf(" " + s.get(i + 1))));
        }
        return items;
    }

    /** Last-word prediction (LAMBADA-style): a sentence without its last word, and that word. */
    public record LastWord(String context, String word) {}

    public static List<LastWord> lastWords(String text, int count, long seed) {
        List<LastWord> items = new ArrayList<>();
        for (String s : sentences(text, 8)) {
            String body = s.replaceAll("[\\p{Punct}“”‘’]+$", "");
            int space = body.lastIndexOf(' ');
            if (space > 0 && body.substring(space + 1).chars().allMatch(Character::isLetter))
                items.add(new LastWord(body.substring(0, space), " " + body.substring(space + 1)));
        }
        Collections.shuffle(items, new Random(seed));
        return items.subList(0, Math.min(count, items.size()));
    }
}
