package dev.lowbit.fuzz;

import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tokenizer.BpeTrainer;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/** Small valid files of every format lowbit reads, written once into a temporary folder as the fuzzers' seeds. */
final class TinyModels {
    static final String TEXT = "It is a truth universally acknowledged, that a single man in possession of a good "
            + "fortune, must be in want of a wife. However little known the feelings or views of such a man may be "
            + "on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding "
            + "families. \"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard that Netherfield Park "
            + "is let at last?\" Mr. Bennet replied that he had not.";

    /** 32 wide, one block, a 270-token BPE, context 32: config.json + model.safetensors + tokenizer.json. */
    static final LlamaConfig HF = new LlamaConfig(32, 64, 1, 2, 1, 270, 32, 1e-5f, 10000f, true);

    final Path root, hf, quantized, llama2c, text;

    TinyModels() throws IOException {
        // memory-backed where there is one: the fuzzers write tens of thousands of small files
        Path shm = Path.of("/dev/shm");
        root = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "lowbit-fuzz")
                : Files.createTempDirectory("lowbit-fuzz");
        hf = Files.createDirectories(root.resolve("hf"));
        quantized = Files.createDirectories(root.resolve("q4"));
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, HF, 21);
            HfCheckpoint.save(p, hf, Map.of());
            TokenizerJson.save(
                    BpeTrainer.train(TEXT, HF.vocabSize(), List.of("<s>", "</s>"), null), hf.resolve("tokenizer.json"));
            LlamaModel q = new LlamaModel(
                    p.weights(),
                    (layer, projection, w) -> new Linear.Quantized(Kernels.quantize(arena, w, QuantSpec.of(4, 32))));
            QuantizedCheckpoint.save(q, quantized, Map.of());
            Files.copy(hf.resolve("tokenizer.json"), quantized.resolve("tokenizer.json"));
        }
        llama2c = root.resolve("tiny.bin");
        Files.write(llama2c, llama2c(8, 16, 1, 2, 1, 16, 8));
        text = Files.writeString(root.resolve("text.txt"), TEXT.repeat(4));
    }

    /** A llama2.c checkpoint with small random weights (tied classifier), laid out as llama2.c writes it. */
    static byte[] llama2c(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen) {
        long kv = (long) kvHeads * (dim / heads);
        long floats = (long) vocab * dim
                + layers * (2L * dim + 2L * dim * dim + 2 * kv * dim + 3L * hidden * dim)
                + dim
                + (long) seqLen * (dim / heads);
        ByteBuffer b = ByteBuffer.allocate((int) (28 + 4 * floats)).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[] {dim, hidden, layers, heads, kvHeads, vocab, seqLen}) b.putInt(v);
        SplittableRandom rnd = new SplittableRandom(21);
        for (long i = 0; i < floats; i++) b.putFloat((float) (rnd.nextDouble(-0.1, 0.1)));
        return b.array();
    }

    void delete() throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
