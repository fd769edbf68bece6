package dev.lowbit.runtime.io;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsStreamWriter.Entry;
import dev.lowbit.runtime.io.SafetensorsStreamWriter.Source;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Writes a Hugging Face LLaMA folder of random weights for a {@link ModelShape}, laid out as
 * {@code save_pretrained} writes one: config.json, model.safetensors or shards plus
 * model.safetensors.index.json, tensors under Hugging Face's names. Weights are drawn as
 * LlamaPreTrainedModel._init_weights draws them (normal, std = initializer_range 0.02; norms
 * 1.0), each tensor from its own stream split off the seed, so a seed gives the same bytes in
 * every run, and the bf16 or f16 values are the f32 ones rounded. Tensors are generated while
 * they are written, one chunk in memory at a time; the folder is written under a temporary name
 * and moved into place at the end, so a failed or killed run never leaves one that looks complete.
 */
public final class SyntheticCheckpoint {
    /** Hugging Face's default initializer_range for LLaMA. */
    public static final double INITIALIZER_RANGE = 0.02;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Told the bytes written so far and the bytes the folder will hold. */
    @FunctionalInterface
    public interface Progress {
        void update(long written, long total);
    }

    /** What {@link #write} produced: the folder, its files, and their bytes (safetensors headers included). */
    public record Written(Path dir, List<String> files, long totalBytes) {}

    private SyntheticCheckpoint() {}

    /** The tensors of a LlamaForCausalLM in its state-dict order (the order shards are filled in). */
    public static List<Entry> stateDict(LlamaConfig c, DType dtype) {
        List<Entry> t = new ArrayList<>();
        long dim = c.dim(), kv = c.kvDim(), hidden = c.hiddenDim();
        t.add(new Entry("model.embed_tokens.weight", dtype, new long[] {c.vocabSize(), dim}));
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            t.add(new Entry(p + "self_attn.q_proj.weight", dtype, new long[] {dim, dim}));
            t.add(new Entry(p + "self_attn.k_proj.weight", dtype, new long[] {kv, dim}));
            t.add(new Entry(p + "self_attn.v_proj.weight", dtype, new long[] {kv, dim}));
            t.add(new Entry(p + "self_attn.o_proj.weight", dtype, new long[] {dim, dim}));
            t.add(new Entry(p + "mlp.gate_proj.weight", dtype, new long[] {hidden, dim}));
            t.add(new Entry(p + "mlp.up_proj.weight", dtype, new long[] {hidden, dim}));
            t.add(new Entry(p + "mlp.down_proj.weight", dtype, new long[] {dim, hidden}));
            t.add(new Entry(p + "input_layernorm.weight", dtype, new long[] {dim}));
            t.add(new Entry(p + "post_attention_layernorm.weight", dtype, new long[] {dim}));
        }
        t.add(new Entry("model.norm.weight", dtype, new long[] {dim}));
        if (!c.tiedEmbeddings()) t.add(new Entry("lm_head.weight", dtype, new long[] {c.vocabSize(), dim}));
        return t;
    }

    public static Written write(
            ModelShape shape, DType dtype, Path out, long seed, long maxShardBytes, Progress progress) {
        return write(shape, dtype, out, seed, maxShardBytes, SafetensorsStreamWriter.DEFAULT_CHUNK, progress);
    }

    /** As {@link #write(ModelShape, DType, Path, long, long, Progress)}, with chunkBytes the one buffer's size. */
    static Written write(
            ModelShape shape, DType dtype, Path out, long seed, long maxShardBytes, int chunkBytes, Progress progress) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16)
            throw new LowbitException("synthetic weights are f32, f16 or bf16, not " + dtype);
        Path target = out.toAbsolutePath().normalize();
        checkTarget(target);
        List<Entry> stateDict = stateDict(shape.config(), dtype);
        ShardPlan plan = ShardPlan.split(stateDict, maxShardBytes);
        Map<String, String> metadata = Map.of("format", "pt");
        long total = 0;
        for (List<Entry> shard : plan.shards()) total += SafetensorsStreamWriter.size(metadata, shard);
        DiskSpace.check(target.getParent(), total, "the model");

        SplittableRandom root = new SplittableRandom(seed);
        Map<String, SplittableRandom> streams = new HashMap<>();
        for (Entry e : stateDict)
            streams.put(e.name(), root.split()); // state-dict order: independent of the shard layout

        Path tmp = createTemp(target);
        Thread cleanup = new Thread(() -> deleteTree(tmp));
        Runtime.getRuntime().addShutdownHook(cleanup); // Ctrl-C removes the partial folder
        try {
            long[] written = {0};
            long all = total;
            List<String> files = new ArrayList<>();
            for (int i = 0; i < plan.shards().size(); i++) {
                String name = plan.fileName(i);
                Path file = tmp.resolve(name);
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    SafetensorsStreamWriter.write(
                            ch,
                            metadata,
                            plan.shards().get(i),
                            e -> values(e, streams.get(e.name())),
                            chunkBytes,
                            n -> progress.update(written[0] += n, all));
                    ch.force(true);
                }
                files.add(name);
            }
            if (plan.shards().size() > 1) {
                writeJson(tmp.resolve("model.safetensors.index.json"), plan.index());
                files.add("model.safetensors.index.json");
            }
            writeJson(tmp.resolve("config.json"), config(shape, dtype));
            files.add("config.json");
            moveIntoPlace(tmp, target);
            return new Written(target, List.copyOf(files), total);
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + target + ": " + reason(e), e);
        } finally {
            deleteTree(tmp); // nothing left there once moved; the partial files after a failure
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook is already running and does the same
            }
        }
    }

    /** Normal(0, 0.02) for matrices and embeddings, 1.0 for RMSNorm weights. */
    private static Source values(Entry e, SplittableRandom rnd) {
        if (e.shape().length == 1)
            return chunk -> {
                while (chunk.hasRemaining()) put(chunk, e.dtype(), 1f);
            };
        return chunk -> {
            while (chunk.hasRemaining()) put(chunk, e.dtype(), (float) (rnd.nextGaussian() * INITIALIZER_RANGE));
        };
    }

    private static void put(ByteBuffer chunk, DType dtype, float v) {
        switch (dtype) {
            case F32 -> chunk.putFloat(v);
            case BF16 -> chunk.putShort(Tensor.bf16(v));
            case F16 -> chunk.putShort(Float.floatToFloat16(v));
            default -> throw new IllegalStateException(dtype.name());
        }
    }

    private static void checkTarget(Path target) {
        if (target.getParent() == null)
            throw new LowbitException("the output folder " + target + " cannot be a filesystem root");
        if (Files.isDirectory(target)) {
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(target)) {
                if (entries.iterator().hasNext())
                    throw new LowbitException(target + " exists and is not empty: give a new or empty output folder");
            } catch (IOException e) {
                throw new LowbitException("cannot read " + target + ": " + reason(e));
            }
        } else if (Files.exists(target)) {
            throw new LowbitException(target + " exists and is not a folder: give a new or empty output folder");
        }
    }

    private static Path createTemp(Path target) {
        try {
            Files.createDirectories(target.getParent());
            Path tmp = Files.createTempDirectory(target.getParent(), "." + target.getFileName() + ".partial-");
            if (Files.getFileStore(tmp)
                    .supportsFileAttributeView("posix")) // temporary folders start private; a model is not
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
            return tmp;
        } catch (IOException e) {
            throw new CheckpointException("cannot create a folder beside " + target + ": " + reason(e), e);
        }
    }

    /** Replaces an empty target folder (checked before) by the finished one, atomically where the filesystem can. */
    private static void moveIntoPlace(Path tmp, Path target) throws IOException {
        Files.deleteIfExists(target);
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target);
        }
    }

    private static ObjectNode config(ModelShape shape, DType dtype) {
        LlamaConfig c = shape.config();
        ObjectNode cfg = JSON.createObjectNode(); // keys sorted, as transformers writes them (sort_keys=True)
        cfg.putArray("architectures").add("LlamaForCausalLM");
        cfg.put("attention_bias", false)
                .put("attention_dropout", 0.0)
                .put("bos_token_id", shape.bos())
                .put("eos_token_id", shape.eos())
                .put("head_dim", c.headDim())
                .put("hidden_act", "silu")
                .put("hidden_size", c.dim())
                .put("initializer_range", INITIALIZER_RANGE)
                .put("intermediate_size", c.hiddenDim())
                .put("max_position_embeddings", c.maxSeqLen())
                .put("mlp_bias", false)
                .put("model_type", "llama")
                .put("num_attention_heads", c.heads())
                .put("num_hidden_layers", c.layers())
                .put("num_key_value_heads", c.kvHeads())
                .put("pretraining_tp", 1)
                .put("rms_norm_eps", decimal(c.normEps()));
        cfg.putNull("rope_scaling");
        cfg.put("rope_theta", decimal(c.ropeTheta()))
                .put("tie_word_embeddings", c.tiedEmbeddings())
                .put(
                        "torch_dtype",
                        switch (dtype) {
                            case F32 -> "float32";
                            case F16 -> "float16";
                            default -> "bfloat16";
                        })
                .put("use_cache", true)
                .put("vocab_size", c.vocabSize());
        return cfg;
    }

    /** Indented by two spaces, "key": value, a newline at the end: Python's json.dumps(indent=2) as transformers calls it. */
    static void writeJson(Path file, ObjectNode node) throws IOException {
        DefaultIndenter indent = new DefaultIndenter("  ", "\n");
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter(
                        Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER))
                .withObjectIndenter(indent)
                .withArrayIndenter(indent);
        Files.writeString(file, JSON.writer(printer).writeValueAsString(node) + "\n");
    }

    /** The float as its shortest decimal (1e-5f as 1.0E-5, not 9.99999974737875E-6). */
    private static double decimal(float f) {
        return Double.parseDouble(Float.toString(f));
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            // best effort: the partial folder is hidden and named .partial, so it never looks like a model
        }
    }

    private static String reason(IOException e) {
        return IoReason.of(e);
    }
}
