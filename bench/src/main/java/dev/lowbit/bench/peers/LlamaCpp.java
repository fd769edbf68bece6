package dev.lowbit.bench.peers;

import static dev.lowbit.bindings.llama.llama_h.C_INT;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.bindings.llama.ggml_log_callback;
import dev.lowbit.bindings.llama.llama_batch;
import dev.lowbit.bindings.llama.llama_context_params;
import dev.lowbit.bindings.llama.llama_h;
import dev.lowbit.bindings.llama.llama_model_quantize_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * llama.cpp itself (libllama from the npm package @node-llama-cpp/linux-x64, through the FFM
 * bindings in dev.lowbit.bindings.llama): loads a GGUF file, runs token sequences and returns
 * every position's logits, tokenizes text, and quantizes GGUF files with llama.cpp's own
 * quantizer. The libraries are found as {@link Ggml} finds them.
 */
public final class LlamaCpp implements AutoCloseable {
    private static final String UNAVAILABLE;

    static {
        String why = null;
        try {
            NativeLibraries.loadLlama(Ggml.directory());
            llama_h.llama_log_set(ggml_log_callback.allocate(LlamaCpp::log, Arena.global()), MemorySegment.NULL);
        } catch (RuntimeException | LinkageError e) {
            why = e.getMessage();
        }
        UNAVAILABLE = why;
    }

    private static final int GGML_LOG_LEVEL_WARN = 3, GGML_LOG_LEVEL_CONT = 5;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment model, context, vocab;
    private final int vocabSize, capacity;

    /** path loaded with a context of capacity tokens (one batch), run on threads threads. */
    public LlamaCpp(Path path, int capacity, int threads) {
        if (UNAVAILABLE != null) throw new IllegalStateException(UNAVAILABLE);
        if (!Files.isRegularFile(path)) throw new IllegalArgumentException(path + ": no such file");
        MemorySegment mp = llama_h.llama_model_default_params(arena);
        model = llama_h.llama_model_load_from_file(arena.allocateFrom(path.toString()), mp);
        if (model.equals(MemorySegment.NULL)) throw new IllegalStateException("llama.cpp could not load " + path);
        MemorySegment cp = llama_h.llama_context_default_params(arena);
        llama_context_params.n_ctx(cp, capacity);
        llama_context_params.n_batch(cp, capacity);
        llama_context_params.n_ubatch(cp, capacity);
        context = llama_h.llama_init_from_model(model, cp);
        if (context.equals(MemorySegment.NULL)) {
            llama_h.llama_model_free(model);
            throw new IllegalStateException("llama.cpp could not make a context for " + path);
        }
        llama_h.llama_set_n_threads(context, threads, threads);
        vocab = llama_h.llama_model_get_vocab(model);
        vocabSize = llama_h.llama_vocab_n_tokens(vocab);
        this.capacity = capacity;
    }

    /** llama.cpp's warnings and errors to stderr; its loading chatter (info, debug) dropped. */
    private static void log(int level, MemorySegment text, MemorySegment user) {
        if (level >= GGML_LOG_LEVEL_WARN && level != GGML_LOG_LEVEL_CONT)
            System.err.print("llama.cpp: " + text.reinterpret(Integer.MAX_VALUE).getString(0));
    }

    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /** Why llama.cpp did not load (and how to get it), or null when it did. */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** The logits after each of tokens, [tokens.length][vocab], from an empty cache. */
    public float[][] logits(int[] tokens) {
        if (tokens.length == 0 || tokens.length > capacity)
            throw new IllegalArgumentException(tokens.length + " tokens, the context holds 1 to " + capacity);
        llama_h.llama_memory_clear(llama_h.llama_get_memory(context), true);
        try (Arena call = Arena.ofConfined()) {
            MemorySegment batch = llama_batch.allocate(call);
            byte[] all = new byte[tokens.length];
            Arrays.fill(all, (byte) 1);
            llama_batch.n_tokens(batch, tokens.length);
            llama_batch.token(batch, call.allocateFrom(C_INT, tokens));
            llama_batch.logits(batch, call.allocateFrom(ValueLayout.JAVA_BYTE, all));
            // embd, pos, n_seq_id, seq_id stay NULL: positions from 0, sequence 0
            int status = llama_h.llama_decode(context, batch);
            if (status != 0) throw new IllegalStateException("llama_decode returned " + status);
        }
        float[][] out = new float[tokens.length][];
        for (int i = 0; i < tokens.length; i++)
            out[i] = llama_h.llama_get_logits_ith(context, i)
                    .reinterpret(4L * vocabSize)
                    .toArray(ValueLayout.JAVA_FLOAT);
        return out;
    }

    /** llama.cpp's tokenization of text (no BOS, special tokens as text). */
    public int[] tokenize(String text) {
        try (Arena call = Arena.ofConfined()) {
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            MemorySegment ids = call.allocate(C_INT, utf8.length + 8L);
            int n = llama_h.llama_tokenize(
                    vocab,
                    call.allocateFrom(ValueLayout.JAVA_BYTE, utf8),
                    utf8.length,
                    ids,
                    utf8.length + 8,
                    false,
                    false);
            if (n < 0) throw new IllegalStateException("llama_tokenize needs room for " + -n + " tokens");
            return ids.asSlice(0, 4L * n).toArray(C_INT);
        }
    }

    /** llama.cpp's own quantizer: in (a GGUF file) to out as llama_ftype ftype (2 Q4_0, 3 Q4_1, 7 Q8_0 ...). */
    public static void quantize(Path in, Path out, int ftype, int threads) {
        if (UNAVAILABLE != null) throw new IllegalStateException(UNAVAILABLE);
        try (Arena call = Arena.ofConfined()) {
            MemorySegment params = llama_h.llama_model_quantize_default_params(call);
            llama_model_quantize_params.nthread(params, threads);
            llama_model_quantize_params.ftype(params, ftype);
            int status = llama_h.llama_model_quantize(
                    call.allocateFrom(in.toString()), call.allocateFrom(out.toString()), params);
            if (status != 0) throw new IllegalStateException("llama_model_quantize returned " + status);
        }
    }

    @Override
    public void close() {
        llama_h.llama_free(context);
        llama_h.llama_model_free(model);
        arena.close();
    }
}
