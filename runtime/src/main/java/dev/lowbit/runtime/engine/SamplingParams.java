package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;
import java.util.List;

/**
 * Per-request sampling: greedy at temperature 0; otherwise softmax(logits / temperature) cut to
 * the topK most likely tokens (0 = all) and then to the nucleus of probability topP, drawn from a
 * random stream seeded with seed. Generation ends after maxTokens, at a token in stopTokenIds (not
 * included in the text), or when the text contains a string of stop (the text is cut before it).
 */
public record SamplingParams(
        int maxTokens, float temperature, float topP, int topK, long seed, List<String> stop, int[] stopTokenIds) {
    public SamplingParams {
        if (maxTokens < 1) throw new LowbitException("max_tokens must be at least 1, got " + maxTokens);
        if (!(temperature >= 0)) throw new LowbitException("temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new LowbitException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new LowbitException("top_k must be >= 0 (0 keeps all tokens), got " + topK);
        stop = List.copyOf(stop);
        for (String s : stop) if (s.isEmpty()) throw new LowbitException("a stop string must not be empty");
        stopTokenIds = stopTokenIds.clone();
    }

    /** Greedy decoding of up to maxTokens tokens, stopping at the given token ids. */
    public static SamplingParams greedy(int maxTokens, int... stopTokenIds) {
        return new SamplingParams(maxTokens, 0, 1, 0, 0, List.of(), stopTokenIds);
    }
}
