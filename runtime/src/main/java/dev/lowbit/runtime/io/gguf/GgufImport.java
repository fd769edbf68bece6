package dev.lowbit.runtime.io.gguf;

import dev.lowbit.runtime.io.FiniteValues;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.GgufVocab;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Loads a LLaMA-architecture GGUF file into lowbit's layouts: F32 / F16 / BF16 tensors are used in
 * place from the mapped file (norms widened to fp32), Q4_0 / Q4_1 / Q8_0 block linears become
 * lowbit weights with groups of 32 (exactly: a 32-block is a group, see {@link Q32Blocks}), and
 * K-quants (Q4_K, Q5_K, Q6_K) are dequantized to fp32. The tokenizer comes along where it is a
 * byte-level BPE lowbit has a pre-tokenizer for ({@link GgufVocab}).
 */
public final class GgufImport {
    /** The model and, where the file has a usable one, its tokenizer. */
    public record Loaded(LlamaModel model, Optional<BpeTokenizer> tokenizer) {}

    private GgufImport() {}

    /**
     * The model in path; with dense true every linear is fp32 or as stored (block-quantized ones
     * dequantized), as quantizing a model from it needs.
     */
    public static Loaded load(Path path, Arena arena, boolean dense) {
        GgufFile g = GgufFile.open(path, arena);
        String arch = g.string("general.architecture");
        if (!arch.equals("llama"))
            throw g.error("architecture '" + arch + "' is not supported: lowbit reads LLaMA-architecture GGUF files");
        if (g.metadata().get("llama.rope.scaling.type") instanceof String s && !s.equals("none")
                || g.tensors().containsKey("rope_freqs.weight"))
            throw g.error("the model scales its rotary embeddings (rope scaling), which lowbit does not implement");
        GgufFile.TensorInfo embedding = tensor(g, GgufNames.EMBEDDING);
        if (embedding.ne().length != 2) throw g.error(GgufNames.EMBEDDING + " must be 2-D");
        int heads = (int) g.integer("llama.attention.head_count", null);
        LlamaConfig c;
        try {
            c = new LlamaConfig(
                    (int) g.integer("llama.embedding_length", null),
                    (int) g.integer("llama.feed_forward_length", null),
                    (int) g.integer("llama.block_count", null),
                    heads,
                    (int) g.integer("llama.attention.head_count_kv", (long) heads),
                    Math.toIntExact(embedding.ne()[1]),
                    (int) g.integer("llama.context_length", 2048L),
                    g.number("llama.attention.layer_norm_rms_epsilon", 1e-5f),
                    g.number("llama.rope.freq_base", 10000f),
                    !g.tensors().containsKey(GgufNames.OUTPUT));
        } catch (RuntimeException e) {
            throw g.error("the llama.* metadata does not describe a model: " + e.getMessage());
        }
        if (g.integer("llama.rope.dimension_count", (long) c.headDim()) != c.headDim())
            throw g.error("rotary embeddings over part of each head (llama.rope.dimension_count "
                    + g.integer("llama.rope.dimension_count", null) + " of " + c.headDim() + ") are not supported");
        Tensor emb = dense(g, arena, GgufNames.EMBEDDING, c.vocabSize(), c.dim());
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        Map<String, Linear> quantized = new HashMap<>();
        for (int l = 0; l < c.layers(); l++) {
            int layer = l;
            Projections<Tensor> linears = Projections.of(p -> {
                long[] shape = shape(c, p);
                String name = GgufNames.linear(layer, p);
                GgufFile.TensorInfo t = tensor(g, name);
                if (dense || !isBlock32(t.type())) return dense(g, arena, name, shape[0], shape[1]);
                quantized.put(name, new Linear.Quantized(blocks(g, arena, name, shape[0], shape[1])));
                return null;
            });
            layers.add(new LlamaWeights.Layer(
                    norm(g, arena, GgufNames.attentionNorm(l), c.dim()),
                    norm(g, arena, GgufNames.ffnNorm(l), c.dim()),
                    linears));
        }
        Linear head = null;
        Tensor output = emb;
        if (!c.tiedEmbeddings()) {
            if (!dense && isBlock32(tensor(g, GgufNames.OUTPUT).type()))
                head = new Linear.Quantized(blocks(g, arena, GgufNames.OUTPUT, c.vocabSize(), c.dim()));
            else output = dense(g, arena, GgufNames.OUTPUT, c.vocabSize(), c.dim());
        }
        LlamaWeights w =
                new LlamaWeights(c, emb, List.copyOf(layers), norm(g, arena, GgufNames.FINAL_NORM, c.dim()), output);
        LlamaModel model = new LlamaModel(
                w,
                (layer, p, weight) ->
                        weight != null ? new Linear.Dense(weight) : quantized.get(GgufNames.linear(layer, p)),
                16,
                head);
        return new Loaded(model, tokenizer(g));
    }

    private static long[] shape(LlamaConfig c, Projection p) {
        return switch (p) {
            case Q, O -> new long[] {c.dim(), c.dim()};
            case K, V -> new long[] {c.kvDim(), c.dim()};
            case GATE, UP -> new long[] {c.hiddenDim(), c.dim()};
            case DOWN -> new long[] {c.dim(), c.hiddenDim()};
        };
    }

    private static boolean isBlock32(GgmlType t) {
        return t == GgmlType.Q4_0 || t == GgmlType.Q4_1 || t == GgmlType.Q8_0;
    }

    private static GgufFile.TensorInfo tensor(GgufFile g, String name) {
        GgufFile.TensorInfo t = g.tensors().get(name);
        if (t == null) throw g.error("the file has no tensor '" + name + "'");
        return t;
    }

    /** The tensor as [rows, cols], checked against the shape the config gives. */
    private static GgufFile.TensorInfo shaped(GgufFile g, String name, long rows, long cols) {
        GgufFile.TensorInfo t = tensor(g, name);
        if (t.cols() != cols || t.rows() != rows || t.ne().length > 2)
            throw g.error("tensor " + name + " has ne " + Arrays.toString(t.ne()) + ", the model needs [" + cols
                    + (rows == 1 ? "" : ", " + rows) + "]");
        return t;
    }

    private static Tensor norm(GgufFile g, Arena arena, String name, long dim) {
        return Kernels.widened(arena, dense(g, arena, name, 1, dim)).reshape(dim);
    }

    /** An unquantized tensor in place (copied where the file misaligns it), a quantized one dequantized to fp32. */
    private static Tensor dense(GgufFile g, Arena arena, String name, long rows, long cols) {
        GgufFile.TensorInfo t = shaped(g, name, rows, cols);
        DType dtype = switch (t.type()) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            default -> null;
        };
        Tensor out;
        if (dtype == null) out = dequantized(arena, t, rows, cols);
        else {
            out = Tensor.wrap(t.data(), dtype, rows, cols);
            if (t.data().address() % dtype.byteSize() != 0) {
                Tensor copy = Tensor.allocate(arena, dtype, rows, cols);
                copy.copyFrom(out);
                out = copy;
            }
        }
        FiniteValues.check(g.path(), name, out);
        return out;
    }

    private static QuantizedTensor blocks(GgufFile g, Arena arena, String name, long rows, long cols) {
        GgufFile.TensorInfo t = shaped(g, name, rows, cols);
        QuantizedTensor q = Q32Blocks.decode(arena, t.type(), t.data(), rows, cols);
        FiniteValues.check(g.path(), name + " (block scales)", q.scales());
        FiniteValues.check(g.path(), name + " (block mins)", q.zeros());
        return q;
    }

    /** Any tensor type lowbit reads, as fp32 [rows, cols]. */
    static Tensor dequantized(Arena arena, GgufFile.TensorInfo t, long rows, long cols) {
        Tensor out = Tensor.allocate(arena, DType.F32, rows, cols);
        if (isBlock32(t.type())) {
            try (Arena scratch = Arena.ofConfined()) {
                QuantizedTensor q = Q32Blocks.decode(scratch, t.type(), t.data(), rows, cols);
                for (long r = 0; r < rows; r++)
                    for (long j = 0; j < cols; j++) {
                        long grp = j / 32;
                        out.setFloat(
                                q.scales().getFloat(r, grp)
                                        * (q.code(r, j) - q.zeros().getFloat(r, grp)),
                                r,
                                j);
                    }
            }
            return out;
        }
        float[] row = new float[(int) cols];
        long rowBytes = t.type().rowBytes(cols);
        for (long r = 0; r < rows; r++) {
            KQuants.dequantize(t.type(), t.data().asSlice(r * rowBytes, rowBytes), row);
            out.rows(r, 1).copyFrom(Tensor.wrap(MemorySegment.ofArray(row), DType.F32, 1, cols));
        }
        return out;
    }

    private static Optional<BpeTokenizer> tokenizer(GgufFile g) {
        if (!"gpt2".equals(g.metadata().get("tokenizer.ggml.model"))) return Optional.empty();
        List<?> tokens = g.array("tokenizer.ggml.tokens"),
                types = g.array("tokenizer.ggml.token_type"),
                merges = g.array("tokenizer.ggml.merges");
        if (tokens == null || merges == null)
            throw g.error("a gpt2 tokenizer needs tokenizer.ggml.tokens and tokenizer.ggml.merges");
        String pre = g.metadata().get("tokenizer.ggml.pre") instanceof String s ? s : "default";
        try {
            int[] t = types == null
                    ? null
                    : types.stream().mapToInt(v -> ((Long) v).intValue()).toArray();
            return new GgufVocab(strings(g, tokens), t, strings(g, merges), pre).tokenizer();
        } catch (RuntimeException e) {
            throw g.error("the tokenizer is not usable: " + e.getMessage());
        }
    }

    private static List<String> strings(GgufFile g, List<?> values) {
        List<String> out = new ArrayList<>(values.size());
        for (Object v : values) {
            if (!(v instanceof String s)) throw g.error("a tokenizer array holds a non-string " + v);
            out.add(s);
        }
        return out;
    }
}
