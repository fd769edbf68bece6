package dev.lowbit.runtime.io;

import dev.lowbit.runtime.io.gguf.GgufFile;
import dev.lowbit.runtime.io.gguf.GgufImport;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Opens a model by name: "default" (the committed model under the project's models/default), a
 * Hugging Face folder (config.json + safetensors, with tokenizer.json if present; weights used in
 * place from the mapped files, in their stored dtype) or a llama2.c {@code .bin} file (no
 * tokenizer) or a GGUF file (llama.cpp's format, see {@link GgufImport}). The weights live in the given arena.
 */
public final class ModelFiles {
    /** A loaded model (full precision, or quantized through the dequant-GEMM), and its tokenizer when the checkpoint has one. */
    public record Loaded(String name, LlamaModel model, Optional<BpeTokenizer> tokenizer) {
        public LlamaWeights weights() {
            return model.weights();
        }
    }

    /**
     * A full-precision model's weights as stored, for streaming each linear once (see {@link
     * #openStored}): hfRotaryOrder says q_proj and k_proj are still in Hugging Face's row order.
     */
    public record Stored(LlamaWeights weights, boolean hfRotaryOrder, Optional<BpeTokenizer> tokenizer) {}

    private ModelFiles() {}

    /**
     * The weights of a full-precision model without building it: a Hugging Face folder's are all
     * views of its mapped files (nothing copied, q_proj and k_proj left in its row order); a
     * llama2.c file's as {@link #open} loads them.
     */
    public static Stored openStored(String model, Arena arena) {
        Path path = pathOf(model);
        if (Files.isDirectory(path) && Files.isRegularFile(path.resolve("config.json"))) {
            if (QuantizedCheckpoint.isQuantized(path))
                throw new CheckpointException(path + " is already quantized; give its full-precision original");
            return new Stored(HfCheckpoint.open(path, arena, false), true, tokenizer(path));
        }
        if (Files.isRegularFile(path) && GgufFile.isGguf(path)) {
            GgufImport.Loaded g = GgufImport.load(path, arena, true);
            return new Stored(g.model().weights(), false, g.tokenizer());
        }
        Loaded loaded = open(model, arena);
        return new Stored(loaded.weights(), false, loaded.tokenizer());
    }

    private static Optional<BpeTokenizer> tokenizer(Path dir) {
        Path tok = dir.resolve("tokenizer.json");
        return Files.isRegularFile(tok) ? Optional.of(TokenizerJson.load(tok)) : Optional.empty();
    }

    /** models/default under -Dlowbit.home (set by ./lowbit), or under the working folder. */
    public static Path defaultModel() {
        String home = System.getProperty("lowbit.home");
        return (home == null ? Path.of("") : Path.of(home))
                .resolve("models")
                .resolve("default")
                .toAbsolutePath();
    }

    /** Where a model named as open takes it lies. */
    public static Path pathOf(String model) {
        return model.equals("default") ? defaultModel() : Path.of(model);
    }

    public static Loaded open(String model, Arena arena) {
        Path path = pathOf(model);
        if (Files.isDirectory(path)) {
            if (!Files.isRegularFile(path.resolve("config.json")))
                throw new CheckpointException(path + ": no config.json"
                        + (model.equals("default")
                                ? "; the default model is missing: run ./lowbit pretrain to train it"
                                : " (expected a Hugging Face model folder)"));
            LlamaModel lm = QuantizedCheckpoint.isQuantized(path)
                    ? QuantizedCheckpoint.load(path, arena)
                    : new LlamaModel(HfCheckpoint.open(path, arena));
            return new Loaded(model, lm, tokenizer(path));
        }
        if (Files.isRegularFile(path) && GgufFile.isGguf(path)) {
            GgufImport.Loaded g = GgufImport.load(path, arena, false);
            return new Loaded(model, g.model(), g.tokenizer());
        }
        if (Files.isRegularFile(path))
            return new Loaded(model, new LlamaModel(Llama2cCheckpoint.load(path, arena)), Optional.empty());
        if (Files.exists(path))
            throw new CheckpointException(path + ": not a model (neither a folder nor a regular file; a device?): give "
                    + "\"default\", a Hugging Face folder, a llama2.c .bin file or a .gguf file");
        throw new CheckpointException(path
                + ": no such model (give \"default\", a Hugging Face folder, a llama2.c .bin file or a .gguf file)");
    }
}
