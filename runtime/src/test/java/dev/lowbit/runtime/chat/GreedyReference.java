package dev.lowbit.runtime.chat;

import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;

/** In-process greedy generation on its own copy of the default model: what a server at temperature 0 must answer. */
public final class GreedyReference implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final ModelFiles.Loaded loaded = ModelFiles.open("default", arena);
    private final Generator generator = new Generator(loaded.model(), loaded.tokenizer());
    private final BpeTokenizer tok = loaded.tokenizer().orElseThrow();
    private final ChatTemplate template = ChatTemplate.of(ModelFiles.defaultModel(), loaded.tokenizer());

    /** The answer's tokens to a user message (the end-of-sequence token that stops it left out). */
    public int[] chat(String user, int maxTokens) {
        return generate(tok.encode(template.render(List.of(new ChatTemplate.Message("user", user)))), maxTokens);
    }

    public int promptTokens(String user) {
        return tok.encode(template.render(List.of(new ChatTemplate.Message("user", user)))).length;
    }

    public int[] completion(String prompt, int maxTokens) {
        return generate(Generator.promptIds(tok, prompt), maxTokens);
    }

    public String text(int[] tokens) {
        return tok.decode(tokens);
    }

    private int[] generate(int[] prompt, int maxTokens) {
        int eos = tok.specialId("</s>");
        int[] out = generator.generate(prompt, new Generator.Options(maxTokens, 0, 1, 0, eos), null);
        return out.length > 0 && out[out.length - 1] == eos ? Arrays.copyOf(out, out.length - 1) : out;
    }

    @Override
    public void close() {
        arena.close();
    }
}
