package dev.lowbit.fuzz;

import dev.lowbit.runtime.io.Llama2cCheckpoint;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every file format lowbit reads, mutated from a small valid file and loaded (then run one token
 * forward, or encoded and decoded): nothing may escape but a LowbitException with a message.
 * Fixed seeds, 10,000 cases per format; the counts are printed at the end.
 */
class FileFormatFuzzTest {
    static final int CASES = 10_000;
    private static TinyModels seeds;
    private static byte[] hfWeights, hfConfig, tokenizer, qWeights, qConfig, llama2c;
    private static Path work;

    @BeforeAll
    static void writeSeeds() throws IOException {
        seeds = new TinyModels();
        hfWeights = Files.readAllBytes(seeds.hf.resolve("model.safetensors"));
        hfConfig = Files.readAllBytes(seeds.hf.resolve("config.json"));
        tokenizer = Files.readAllBytes(seeds.hf.resolve("tokenizer.json"));
        qWeights = Files.readAllBytes(seeds.quantized.resolve("model.safetensors"));
        qConfig = Files.readAllBytes(seeds.quantized.resolve("config.json"));
        llama2c = Files.readAllBytes(seeds.llama2c);
        work = Files.createDirectories(seeds.root.resolve("case"));
        // the unmutated seeds load: otherwise every case would be refused for the same reason
        load(seeds.hf);
        load(seeds.quantized);
        TokenizerJson.load(seeds.hf.resolve("tokenizer.json"));
        try (Arena arena = Arena.ofConfined()) {
            forward(new LlamaModel(Llama2cCheckpoint.load(seeds.llama2c, arena)), arena);
        }
    }

    @AfterAll
    static void report() throws IOException {
        for (String f : List.of("safetensors", "llama2.c", "config.json", "tokenizer.json", "quantized checkpoint"))
            Outcomes.print(f);
        seeds.delete();
    }

    /** The safetensors header (as JSON, re-framed with its length) or the raw bytes of the file. */
    @Test
    void safetensors() {
        SeededCases.run("safetensors", 2101, CASES, r -> Mutations.edits(r, 3), e -> {
            byte[] file = switch (e.which()) {
                case 0 -> reframe(hfWeights, e.json());
                case 1 -> Mutations.apply(hfWeights, e.bytes());
                default -> Mutations.apply(reframe(hfWeights, e.json()), e.bytes());
            };
            Path p = write("model.safetensors", file);
            Outcomes.check("safetensors", () -> {
                try (Arena arena = Arena.ofConfined()) {
                    SafetensorsFile st = SafetensorsFile.open(p, arena);
                    for (String name : st.names()) {
                        Tensor t = st.tensor(name);
                        if (t.dtype() == DType.F32 || t.dtype() == DType.F16 || t.dtype() == DType.BF16)
                            t.toFloatArray();
                    }
                }
            });
        });
    }

    record Llama2cCase(List<Mutations.HeaderField> fields, List<Mutations.ByteEdit> bytes, boolean bytesToo) {}

    /** llama2.c: header fields set to hostile values, then byte edits of the whole file. */
    @Test
    void llama2c() {
        SeededCases.run(
                "llama2.c",
                2102,
                CASES,
                r -> new Llama2cCase(Mutations.headerFields(r), Mutations.byteEdits(r), r.nextBoolean()),
                c -> {
                    ByteBuffer b = ByteBuffer.wrap(llama2c.clone()).order(ByteOrder.LITTLE_ENDIAN);
                    for (Mutations.HeaderField f : c.fields()) b.putInt(4 * f.field(), f.value());
                    byte[] file = c.bytesToo() ? Mutations.apply(b.array(), c.bytes()) : b.array();
                    Path p = write("model.bin", file);
                    Outcomes.check("llama2.c", () -> {
                        try (Arena arena = Arena.ofConfined()) {
                            forward(new LlamaModel(Llama2cCheckpoint.load(p, arena)), arena);
                        }
                    });
                });
    }

    /** config.json of a Hugging Face folder, by JSON edits (which 0) or as bytes (which 1). */
    @Test
    void configJson() {
        SeededCases.run("config.json", 2103, CASES, r -> Mutations.edits(r, 2), e -> {
            Path dir =
                    folder(hfWeights, e.which() == 1 ? Mutations.apply(hfConfig, e.bytes()) : edit(hfConfig, e.json()));
            Outcomes.check("config.json", () -> load(dir));
        });
    }

    /** tokenizer.json, by JSON edits (which 0) or as bytes (which 1); a loaded tokenizer encodes and decodes the text. */
    @Test
    void tokenizerJson() {
        SeededCases.run("tokenizer.json", 2104, CASES, r -> Mutations.edits(r, 2), e -> {
            Path p = write(
                    "tokenizer.json",
                    e.which() == 1 ? Mutations.apply(tokenizer, e.bytes()) : edit(tokenizer, e.json()));
            Outcomes.check("tokenizer.json", () -> {
                BpeTokenizer t = TokenizerJson.load(p);
                t.decode(t.encode(TinyModels.TEXT.substring(0, 80)));
            });
        });
    }

    /** A lowbit quantized folder: its config (quantization_config included), header, codes, scales and zeros. */
    @Test
    void quantizedCheckpoint() {
        SeededCases.run("quantized checkpoint", 2105, CASES, r -> Mutations.edits(r, 3), e -> {
            Path dir = switch (e.which()) {
                case 0 -> folder(qWeights, edit(qConfig, e.json()));
                case 1 -> folder(reframe(qWeights, e.json()), qConfig);
                default -> folder(dataEdits(qWeights, e.bytes()), qConfig);
            };
            Outcomes.check("quantized checkpoint", () -> load(dir));
        });
    }

    private static void load(Path dir) {
        try (Arena arena = Arena.ofConfined()) {
            forward(ModelFiles.open(dir.toString(), arena).model(), arena);
        }
    }

    private static void forward(LlamaModel m, Arena arena) {
        m.forward(arena, new int[] {1 % m.config().vocabSize(), 0}, m.newCache(arena));
    }

    private static byte[] edit(byte[] json, List<Mutations.JsonEdit> edits) {
        try {
            return Mutations.bytes(Mutations.apply(Mutations.JSON.readTree(json), edits));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A safetensors file whose header JSON is edited and framed again with its new length. */
    private static byte[] reframe(byte[] file, List<Mutations.JsonEdit> edits) {
        ByteBuffer in = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) in.getLong(0);
        byte[] header = edit(Arrays.copyOfRange(file, 8, 8 + n), edits);
        ByteBuffer out =
                ByteBuffer.allocate(8 + header.length + file.length - 8 - n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header).put(file, 8 + n, file.length - 8 - n);
        return out.array();
    }

    /** Byte edits confined to the data section (after the header): codes, scales and zeros of the stored tensors. */
    private static byte[] dataEdits(byte[] file, List<Mutations.ByteEdit> edits) {
        int start =
                8 + (int) ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        byte[] out = file.clone();
        for (Mutations.ByteEdit e : edits) {
            int at = start + e.at() % (file.length - start);
            out[at] = e.kind() % 2 == 0 ? (byte) e.value() : (byte) (out[at] ^ (1 << (e.value() & 7)));
            // a few whole floats set to NaN / Inf / huge, where scales and zeros lie
            if (e.kind() >= 4 && at + 4 <= out.length)
                ByteBuffer.wrap(out)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putFloat(
                                at & ~3,
                                e.value() % 3 == 0 ? Float.NaN : e.value() % 3 == 1 ? Float.POSITIVE_INFINITY : 3e38f);
        }
        return out;
    }

    private static Path write(String name, byte[] content) {
        try {
            return Files.write(work.resolve(name), content);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The contents last written into the case folder: unchanged files (the seeds' arrays) are not written again. */
    private static byte[] lastWeights, lastConfig;

    private static Path folder(byte[] weights, byte[] config) {
        try {
            Path dir = Files.createDirectories(work.resolve("model"));
            if (weights != lastWeights || weights != hfWeights && weights != qWeights)
                Files.write(dir.resolve("model.safetensors"), weights);
            if (config != lastConfig || config != hfConfig && config != qConfig)
                Files.write(dir.resolve("config.json"), config);
            lastWeights = weights;
            lastConfig = config;
            return dir;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
