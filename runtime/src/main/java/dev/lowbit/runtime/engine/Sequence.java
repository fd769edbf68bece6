package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.engine.Completion.FinishReason;
import dev.lowbit.runtime.generate.Sampler;
import dev.lowbit.runtime.generate.TextStream;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.PagedKvCache;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * One request as the scheduler runs it: its prompt (run in chunks), KV cache, sampler and output.
 * Every generated token reaches the sink with the text it completes, so the texts of onToken add up
 * to the completion's text; a stop token id is counted and passed on with no text of its own.
 */
final class Sequence implements Submission {
    private final int[] prompt;
    private final SamplingParams params;
    private final TokenSink sink;
    private final Sampler sampler;
    private final TextStream decoder; // null without a tokenizer
    private final StopText stop;
    private final StringBuilder decoded = new StringBuilder(); // what decoder passed on for the current token
    private final StringBuilder text = new StringBuilder();
    private final CompletableFuture<Completion> result = new CompletableFuture<>();
    private final Runnable wake;
    private volatile boolean cancelled;
    private PagedKvCache cache;
    private int prefilled;
    private int[] tokens;
    private int count;

    Sequence(int[] prompt, SamplingParams params, TokenSink sink, Optional<BpeTokenizer> tokenizer, Runnable wake) {
        this.prompt = prompt.clone();
        this.params = params;
        this.sink = sink;
        this.wake = wake;
        this.sampler = new Sampler(params.temperature(), params.topP(), params.topK(), params.seed());
        this.decoder = tokenizer.map(t -> new TextStream(t, decoded::append)).orElse(null);
        this.stop = new StopText(params.stop());
        this.tokens = new int[Math.min(params.maxTokens(), 64)];
    }

    @Override
    public void cancel() {
        cancelled = true;
        wake.run();
    }

    @Override
    public CompletableFuture<Completion> result() {
        return result;
    }

    boolean cancelled() {
        return cancelled;
    }

    /** Positions the cache must hold: the prompt and every generated token but the last (never run). */
    int positions() {
        return prompt.length + params.maxTokens() - 1;
    }

    void admitted(PagedKvCache cache) {
        this.cache = cache;
    }

    PagedKvCache cache() {
        return cache;
    }

    boolean prefilling() {
        return prefilled < prompt.length;
    }

    /** The tokens this sequence runs next: up to limit of its prompt, else its last generated token. */
    int[] next(int limit) {
        if (!prefilling()) return new int[] {tokens[count - 1]};
        int n = Math.min(Math.min(limit, LlamaModel.PROMPT_CHUNK), prompt.length - prefilled);
        return Arrays.copyOfRange(prompt, prefilled, prefilled + n);
    }

    /** After a forward ran rows of this sequence: true when its logits (at offset) predict the next token. */
    boolean ran(int rows) {
        if (!prefilling()) return true;
        prefilled += rows;
        return !prefilling();
    }

    /** Samples the next token from logits and passes it on; true when the sequence is done (and finished). */
    boolean sample(float[] logits, int offset, int vocab) {
        int token = sampler.next(logits, offset, vocab);
        if (count == tokens.length) tokens = Arrays.copyOf(tokens, Math.min(2 * count, params.maxTokens()));
        tokens[count++] = token;
        boolean stopToken = Arrays.stream(params.stopTokenIds()).anyMatch(t -> t == token);
        boolean last = stopToken || count == params.maxTokens();
        decoded.setLength(0);
        if (decoder != null && !stopToken) decoder.accept(token);
        if (decoder != null && last) decoder.finish(); // an unfinished character at the end
        String out = stop.push(decoded.toString());
        if (last && !stop.stopped()) out += stop.flush();
        text.append(out);
        sink.onToken(token, out);
        if (stop.stopped() || stopToken) finish(FinishReason.STOP);
        else if (last) finish(FinishReason.LENGTH);
        return last || stop.stopped();
    }

    void finish(FinishReason reason) {
        free();
        Completion c = new Completion(Arrays.copyOf(tokens, count), text.toString(), prompt.length, reason);
        if (result.isDone()) return;
        try {
            sink.onFinish(c);
        } finally {
            result.complete(c);
        }
    }

    void fail(LowbitException error) {
        free();
        if (result.isDone()) return;
        try {
            sink.onError(error);
        } finally {
            result.completeExceptionally(error);
        }
    }

    private void free() {
        if (cache != null) cache.free();
    }
}
