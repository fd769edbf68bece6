package dev.lowbit.runtime.generate;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.DecodeState;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Text generation for servers: load a model once, share its weights across threads; every call
 * gets its own {@link DecodeState} (KV cache and buffers, allocated once), so concurrent calls are
 * independent and each returns what it would return alone (for the same prompt, options and seed).
 */
public final class Generator {
    /** Sampling settings; stop is a token id that ends generation (-1 for none). */
    public record Options(int maxNewTokens, float temperature, float topP, long seed, int stop) {
        public Options {
            if (maxNewTokens < 0) throw new LowbitException("maxNewTokens must be >= 0, got " + maxNewTokens);
        }
    }

    private final LlamaModel model;
    private final Optional<BpeTokenizer> tokenizer;

    public Generator(LlamaModel model, Optional<BpeTokenizer> tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    public LlamaModel model() {
        return model;
    }

    /** Generates token ids after prompt (at least one token), passing each to onToken as it is chosen. */
    public int[] generate(int[] prompt, Options options, IntConsumer onToken) {
        if (prompt.length == 0) throw new LowbitException("the prompt needs at least one token");
        int room = model.config().maxSeqLen() - prompt.length;
        if (room < 0)
            throw new LowbitException("the prompt of " + prompt.length + " tokens exceeds the context of "
                    + model.config().maxSeqLen());
        int limit = Math.min(options.maxNewTokens(), room);
        Sampler sampler = new Sampler(options.temperature(), options.topP(), options.seed());
        int vocab = model.config().vocabSize();
        int[] out = new int[limit];
        int n = 0;
        try (Arena arena = Arena.ofConfined()) {
            // allocated once (a decode step allocates nothing), the KV cache for this prompt and answer only
            DecodeState state = model.newState(
                    arena,
                    Math.min(LlamaModel.PROMPT_CHUNK, model.config().maxSeqLen()),
                    Math.min(model.config().maxSeqLen(), prompt.length + limit));
            int[] next = prompt;
            int[] one = new int[1];
            while (n < limit) {
                model.forward(state, next);
                float[] logits = state.hostLogits(); // only the last token's row comes to the host
                int token = sampler.next(logits, 0, vocab);
                out[n++] = token;
                if (onToken != null) onToken.accept(token);
                if (token == options.stop()) break;
                one[0] = token;
                next = one;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Encodes the prompt, generates, and streams the decoded text (whole characters only) to onText (may be null). */
    public String generate(String prompt, Options options, Consumer<String> onText) {
        TextStream text = new TextStream(tokenizer(), onText == null ? s -> {} : onText);
        generate(promptIds(prompt), options, text);
        return text.finish();
    }

    /** The token ids text generation feeds the model for prompt: BOS (where the tokenizer has one), then the text's. */
    public int[] promptIds(String prompt) {
        return promptIds(tokenizer(), prompt);
    }

    /** The token ids for prompt with tok: BOS (where it has one), then the text's. */
    public static int[] promptIds(BpeTokenizer tok, String prompt) {
        int bos = tok.specialId("<s>");
        int[] ids = tok.encode(prompt);
        if (bos < 0) return ids;
        int[] withBos = new int[ids.length + 1];
        withBos[0] = bos;
        System.arraycopy(ids, 0, withBos, 1, ids.length);
        return withBos;
    }

    private BpeTokenizer tokenizer() {
        return tokenizer.orElseThrow(() -> new LowbitException("this model has no tokenizer; generate from token ids"));
    }
}
