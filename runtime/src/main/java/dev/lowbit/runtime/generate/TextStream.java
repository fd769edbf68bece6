package dev.lowbit.runtime.generate;

import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Decodes generated tokens as they come and passes on whole characters only (a token can end inside
 * a UTF-8 sequence): the text side of {@link Generator#generate(String, Generator.Options, Consumer)},
 * for callers that also want the token ids (e.g. to time them).
 */
public final class TextStream implements IntConsumer {
    private final BpeTokenizer tokenizer;
    private final Consumer<String> onText;
    private final StringBuilder text = new StringBuilder();
    private int[] tokens = new int[16];
    private int count;

    public TextStream(BpeTokenizer tokenizer, Consumer<String> onText) {
        this.tokenizer = tokenizer;
        this.onText = onText;
    }

    @Override
    public void accept(int token) {
        if (count == tokens.length) tokens = Arrays.copyOf(tokens, 2 * count);
        tokens[count++] = token;
        String all = decoded();
        int complete = all.endsWith("\uFFFD") ? all.lastIndexOf('\uFFFD') : all.length(); // an unfinished character
        emit(all, complete);
    }

    /** Passes on what is left (an unfinished character decodes to U+FFFD) and returns the whole text. */
    public String finish() {
        String all = decoded();
        emit(all, all.length());
        return all;
    }

    private String decoded() {
        return tokenizer.decode(Arrays.copyOf(tokens, count));
    }

    private void emit(String all, int end) {
        if (end <= text.length()) return;
        onText.accept(all.substring(text.length(), end));
        text.append(all, text.length(), end);
    }
}
