package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Finite;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Hugging Face LLaMA checkpoints: a folder with config.json and model.safetensors (or shards
 * listed in model.safetensors.index.json), fp32, fp16 or bf16. {@link #open} uses the weights in
 * place, in their stored dtype; {@link #load} converts them to fp32 into a {@link LlamaParameters}
 * buffer (for training). q_proj and k_proj rows are reordered from Hugging Face's rotate-half
 * rotary layout to the interleaved pairs lowbit's RoPE kernel uses (and back on save).
 */
public final class HfCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfCheckpoint() {}

    public static LlamaConfig readConfig(Path dir) {
        Path file = dir.resolve("config.json");
        JsonNode c;
        try {
            c = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read the model config (" + e.getMessage() + ")", e);
        }
        if (!c.isObject()) throw new CheckpointException(file + ": not a JSON object (expected a model config)");
        ConfigFields f = new ConfigFields(file);
        String[] names = {
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "vocab_size",
            "max_position_embeddings"
        };
        int heads = f.integer(c, names[3], null, 1, ConfigFields.MAX_DIM);
        long[] dims = {
            f.integer(c, names[0], null, 1, ConfigFields.MAX_DIM),
            f.integer(c, names[1], null, 1, ConfigFields.MAX_HIDDEN),
            f.integer(c, names[2], null, 1, ConfigFields.MAX_LAYERS),
            heads,
            f.integer(c, names[4], heads, 1, ConfigFields.MAX_DIM),
            f.integer(c, names[5], null, 1, ConfigFields.MAX_VOCAB),
            f.integer(c, names[6], 2048, 1, Integer.MAX_VALUE)
        };
        return f.model(
                names,
                dims,
                f.positive(c, "rms_norm_eps", 1e-6, 1),
                f.positive(c, "rope_theta", 10000, 1e12),
                f.bool(c, "tie_word_embeddings", false));
    }

    /**
     * The model in dir with its weights as stored (F32, F16 or BF16): views of the memory-mapped
     * safetensors files, alive as long as arena. Only what cannot be used in place is copied into
     * arena: q_proj and k_proj (rows reordered to lowbit's rotary layout, still in their dtype) and
     * the RMSNorm weights (widened to fp32, a few KB each). Each tensor is checked for shape and for
     * NaN or Inf values as it is mapped.
     */
    public static LlamaWeights open(Path dir, Arena arena) {
        return open(dir, arena, true);
    }

    /**
     * As {@link #open(Path, Arena)}; with reorderQk false, q_proj and k_proj are views too, still in
     * Hugging Face's rotate-half row order: for streaming each linear once through a step that
     * reorders its own copy ({@link #interleaveRotary}), so nothing whole is copied; that step also
     * checks the block linears' values (they are not read here).
     */
    public static LlamaWeights open(Path dir, Arena arena, boolean reorderQk) {
        LlamaConfig config = readConfig(dir);
        Map<String, Path> files = weightFiles(dir);
        new ConfigFields(dir.resolve("config.json"))
                .fitsWeights(config, Set.copyOf(files.values()), 2); // bf16 at least
        Map<Path, SafetensorsFile> open = new LinkedHashMap<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (LlamaParameters.Slot slot : LlamaParameters.layout(config)) {
            Path file = files.get(slot.name());
            if (file == null)
                throw new CheckpointException(dir + ": the checkpoint has no tensor '" + slot.name() + "'");
            Tensor src = open.computeIfAbsent(file, f -> SafetensorsFile.open(f, arena))
                    .tensor(slot.name());
            // streamed block linears are checked for NaN by the step that reads them (quantization):
            // reading a larger-than-memory checkpoint twice would double the run
            checkStored(
                    file,
                    slot,
                    src,
                    reorderQk || slot.shape().length == 1 || Projection.ofWeightName(slot.name()) == null);
            Projection linear = Projection.ofWeightName(slot.name());
            Tensor t = src;
            if (reorderQk && (linear == Projection.Q || linear == Projection.K)) {
                t = Tensor.allocate(arena, src.dtype(), src.shape());
                t.copyFrom(src);
                interleaveRotary(t, linear, config);
            } else if (slot.shape().length == 1) {
                t = Kernels.widened(arena, src);
            }
            tensors.put(slot.name(), t);
        }
        return LlamaWeights.ofNamed(config, tensors);
    }

    /** Reorders w, q_proj's or k_proj's weights (or its copy) in place from Hugging Face's rotary row order to lowbit's. */
    public static void interleaveRotary(Tensor w, Projection linear, LlamaConfig config) {
        if (linear != Projection.Q && linear != Projection.K)
            throw new IllegalArgumentException(linear + " has no rotary row order");
        permuteRows(w, linear == Projection.Q ? config.heads() : config.kvHeads(), config.headDim(), true);
    }

    /** A stored tensor has the shape config.json implies, a floating dtype, and only finite values. */
    static void checkStored(Path file, LlamaParameters.Slot slot, Tensor src) {
        checkStored(file, slot, src, true);
    }

    private static void checkStored(Path file, LlamaParameters.Slot slot, Tensor src, boolean values) {
        if (!Arrays.equals(src.shape(), slot.shape()))
            throw new CheckpointException(file + ": tensor '" + slot.name() + "' has shape "
                    + Arrays.toString(src.shape()) + " but config.json implies " + Arrays.toString(slot.shape()));
        if (src.dtype() != DType.F32 && src.dtype() != DType.F16 && src.dtype() != DType.BF16)
            throw new CheckpointException(
                    file + ": tensor '" + slot.name() + "' is " + src.dtype() + ", expected F32, F16 or BF16");
        long bad = values ? Finite.firstNonFinite(src) : -1;
        if (bad >= 0)
            throw new CheckpointException(file + ": tensor '" + slot.name() + "' holds NaN or Inf at element " + bad);
    }

    /** Loads every weight of the model in dir into fp32 parameters allocated in arena. */
    public static LlamaParameters load(Path dir, Arena arena) {
        LlamaConfig config = readConfig(dir);
        Map<String, Path> files = weightFiles(dir);
        new ConfigFields(dir.resolve("config.json"))
                .fitsWeights(config, Set.copyOf(files.values()), 2); // bf16 at least
        ConfigFields.fitsInFp32(config);
        LlamaParameters params = LlamaParameters.zeros(arena, config);
        try (Arena mapping = Arena.ofConfined()) {
            Map<Path, SafetensorsFile> open = new LinkedHashMap<>();
            for (LlamaParameters.Slot slot : params.slots()) {
                Path file = files.get(slot.name());
                if (file == null)
                    throw new CheckpointException(dir + ": the checkpoint has no tensor '" + slot.name() + "'");
                SafetensorsFile st = open.computeIfAbsent(file, f -> SafetensorsFile.open(f, mapping));
                Tensor src = st.tensor(slot.name());
                checkStored(file, slot, src);
                Tensor dst = params.get(slot.name());
                if (src.dtype() == DType.F32) dst.copyFrom(src);
                else Kernels.widen(src, dst);
                Projection linear = Projection.ofWeightName(slot.name());
                if (linear == Projection.Q || linear == Projection.K) interleaveRotary(dst, linear, config);
            }
        }
        return params;
    }

    /** Writes config.json and model.safetensors (fp32, Hugging Face names and rotary layout) into dir. */
    public static void save(LlamaParameters params, Path dir, Map<String, String> metadata) {
        LlamaConfig c = params.config();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            new TreeMap<>(metadata)
                    .forEach(writer::metadata); // sorted: the same bytes on every run (Map.of has no order)
            for (LlamaParameters.Slot slot : params.slots()) {
                Tensor t = params.get(slot.name());
                Projection linear = Projection.ofWeightName(slot.name());
                if (linear == Projection.Q || linear == Projection.K) {
                    Tensor copy = Tensor.allocate(arena, DType.F32, t.shape());
                    copy.copyFrom(t);
                    permuteRows(copy, (int) (t.dim(0) / c.headDim()), c.headDim(), false);
                    t = copy;
                }
                writer.put(slot.name(), t);
            }
            writer.write(dir.resolve("model.safetensors"));
        }
        writeConfig(c, dir, cfg -> {});
    }

    /** Writes config.json for c into dir; extra adds fields (e.g. a quantization_config). */
    static void writeConfig(LlamaConfig c, Path dir, Consumer<ObjectNode> extra) {
        ObjectNode cfg = JSON.createObjectNode();
        cfg.putArray("architectures").add("LlamaForCausalLM");
        cfg.put("model_type", "llama")
                .put("hidden_size", c.dim())
                .put("intermediate_size", c.hiddenDim())
                .put("num_hidden_layers", c.layers())
                .put("num_attention_heads", c.heads())
                .put("num_key_value_heads", c.kvHeads())
                .put("vocab_size", c.vocabSize())
                .put("max_position_embeddings", c.maxSeqLen())
                .put("rms_norm_eps", c.normEps())
                .put("rope_theta", c.ropeTheta())
                .put("tie_word_embeddings", c.tiedEmbeddings())
                .put("hidden_act", "silu")
                .put("torch_dtype", "float32");
        extra.accept(cfg);
        byte[] json;
        try {
            json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(cfg);
        } catch (IOException e) {
            throw new CheckpointException("cannot serialise config.json", e);
        }
        AtomicFiles.write(dir.resolve("config.json"), ch -> ch.write(ByteBuffer.wrap(json)));
    }

    /** Which file holds each tensor: the shard index's weight_map, or every tensor of model.safetensors. */
    static Map<String, Path> weightFiles(Path dir) {
        Map<String, Path> files = new LinkedHashMap<>();
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            try {
                JSON.readTree(index.toFile())
                        .path("weight_map")
                        .fields()
                        .forEachRemaining(e ->
                                files.put(e.getKey(), dir.resolve(e.getValue().asText())));
            } catch (IOException e) {
                throw new CheckpointException(index + ": cannot read the shard index (" + e.getMessage() + ")", e);
            }
            return files;
        }
        Path single = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(single))
            throw new CheckpointException(dir + ": no model.safetensors or model.safetensors.index.json");
        try (Arena arena = Arena.ofConfined()) {
            for (String name : SafetensorsFile.open(single, arena).names()) files.put(name, single);
        }
        return files;
    }

    /**
     * Reorders the rows of each head between Hugging Face's rotate-half layout (row i pairs with
     * i + hd/2) and interleaved pairs (2i, 2i+1): toInterleaved maps row i to 2i and i + hd/2 to 2i + 1.
     */
    static void permuteRows(Tensor w, int heads, int headDim, boolean toInterleaved) {
        try (Arena tmp = Arena.ofConfined()) {
            Tensor head = Tensor.allocate(tmp, w.dtype(), headDim, w.dim(1));
            for (int h = 0; h < heads; h++) {
                Tensor rows = w.rows((long) h * headDim, headDim);
                head.copyFrom(rows);
                for (int i = 0; i < headDim / 2; i++) {
                    int half = i + headDim / 2;
                    if (toInterleaved) {
                        rows.rows(2 * i, 1).copyFrom(head.rows(i, 1));
                        rows.rows(2 * i + 1, 1).copyFrom(head.rows(half, 1));
                    } else {
                        rows.rows(i, 1).copyFrom(head.rows(2 * i, 1));
                        rows.rows(half, 1).copyFrom(head.rows(2 * i + 1, 1));
                    }
                }
            }
        }
    }
}
