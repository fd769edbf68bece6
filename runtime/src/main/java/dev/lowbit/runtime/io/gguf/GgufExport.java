package dev.lowbit.runtime.io.gguf;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.GgufVocab;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Writes a lowbit model as a llama.cpp GGUF file (general.architecture llama): the llama.* keys,
 * the tokenizer as tokenizer.ggml.* (model gpt2), and each tensor under llama.cpp's name with its
 * dims reversed. lowbit keeps q_proj and k_proj rows in the interleaved rotary order that
 * llama.cpp's converter produces from Hugging Face's (its permute of q/k), so their rows go as they
 * are. Block linears map exactly where the formats allow: asymmetric 4-bit with groups of a
 * multiple of 32 as Q4_1, symmetric 4-bit (every zero 8) as Q4_0, symmetric 8-bit (zero 128) as
 * Q8_0, unquantized weights in their stored F32 / F16 / BF16. Anything else is refused, naming the
 * layer.
 */
public final class GgufExport {
    /** What the export did to one tensor: its GGUF type and the largest weight difference (fp16 rounding). */
    public record TensorReport(String name, GgmlType type, float maxAbsDiff) {}

    /** A tensor's report before its bytes are written (the difference is known once they are). */
    private record Pending(String name, GgmlType type, float[] worst) {}

    private GgufExport() {}

    public static List<TensorReport> save(LlamaModel model, Optional<BpeTokenizer> tokenizer, String name, Path out) {
        LlamaConfig c = model.config();
        if (model.qkvBits() != 16)
            throw new LowbitException("the model quantizes queries, keys and values to " + model.qkvBits()
                    + " bits, which llama.cpp cannot run; export a weight-only model");
        LlamaWeights w = model.weights();
        GgufWriter gguf = new GgufWriter()
                .string("general.architecture", "llama")
                .string("general.name", name)
                .u32("general.quantization_version", 2)
                .u32("llama.context_length", c.maxSeqLen())
                .u32("llama.embedding_length", c.dim())
                .u32("llama.block_count", c.layers())
                .u32("llama.feed_forward_length", c.hiddenDim())
                .u32("llama.attention.head_count", c.heads())
                .u32("llama.attention.head_count_kv", c.kvHeads())
                .u32("llama.rope.dimension_count", c.headDim())
                .f32("llama.rope.freq_base", c.ropeTheta())
                .f32("llama.attention.layer_norm_rms_epsilon", c.normEps())
                .u32("llama.vocab_size", c.vocabSize());
        List<Pending> report = new ArrayList<>();
        dense(gguf, GgufNames.EMBEDDING, w.tokenEmbedding(), report);
        for (int l = 0; l < c.layers(); l++) {
            dense(gguf, GgufNames.attentionNorm(l), w.layers().get(l).attentionNorm(), report);
            for (Projection p : Projection.values()) linear(gguf, GgufNames.linear(l, p), model.linear(l, p), report);
            dense(gguf, GgufNames.ffnNorm(l), w.layers().get(l).ffnNorm(), report);
        }
        dense(gguf, GgufNames.FINAL_NORM, w.finalNorm(), report);
        if (!(model.head() instanceof Linear.Dense d) || !c.tiedEmbeddings() || d.weight() != w.tokenEmbedding())
            linear(gguf, GgufNames.OUTPUT, model.head(), report);
        gguf.u32("general.file_type", fileType(report));
        tokenizer.ifPresent(t -> vocab(gguf, t, c.vocabSize()));
        gguf.write(out);
        return report.stream()
                .map(p -> new TensorReport(p.name, p.type, p.worst[0]))
                .toList();
    }

    private static void vocab(GgufWriter gguf, BpeTokenizer t, int size) {
        GgufVocab v = GgufVocab.of(t, size);
        gguf.string("tokenizer.ggml.model", "gpt2")
                .string("tokenizer.ggml.pre", v.pre())
                .strings("tokenizer.ggml.tokens", v.tokens())
                .i32s("tokenizer.ggml.token_type", v.types())
                .strings("tokenizer.ggml.merges", v.merges())
                .bool("tokenizer.ggml.add_bos_token", false);
        if (t.specialId("<s>") >= 0) gguf.u32("tokenizer.ggml.bos_token_id", t.specialId("<s>"));
        if (t.specialId("</s>") >= 0) gguf.u32("tokenizer.ggml.eos_token_id", t.specialId("</s>"));
    }

    /** llama_ftype of the block linears' most common type (informational for llama.cpp). */
    private static int fileType(List<Pending> report) {
        for (GgmlType t : new GgmlType[] {GgmlType.Q4_1, GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.BF16, GgmlType.F16})
            if (report.stream().anyMatch(r -> r.type == t && r.name.startsWith("blk.")))
                return switch (t) {
                    case Q4_1 -> 3;
                    case Q4_0 -> 2;
                    case Q8_0 -> 7;
                    case BF16 -> 32;
                    default -> 1;
                };
        return 0;
    }

    private static void dense(GgufWriter gguf, String name, Tensor t, List<Pending> report) {
        GgmlType type = switch (t.dtype()) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            default -> throw new LowbitException(name + " is stored as " + t.dtype() + ", which GGUF cannot hold");
        };
        long rows = t.rank() == 1 ? 1 : t.dim(0), cols = t.dim(t.rank() - 1);
        gguf.tensor(name, type, rows, cols, out -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor src = t;
                if (!t.isContiguous()) {
                    src = Tensor.allocate(arena, t.dtype(), t.shape());
                    src.copyFrom(t);
                }
                MemorySegment.copy(src.segment(), 0, out, 0, out.byteSize());
            }
        });
        report.add(new Pending(name, type, new float[1]));
    }

    private static void linear(GgufWriter gguf, String name, Linear l, List<Pending> report) {
        if (l instanceof Linear.Dense d) {
            dense(gguf, name, d.weight(), report);
            return;
        }
        if (!(l instanceof Linear.Quantized(QuantizedTensor q)))
            throw new LowbitException(name + " is "
                    + (l instanceof Linear.Reassembled ? "behind a channel reassembly" : "activation-quantized")
                    + ", which llama.cpp cannot run; GGUF exports weight-only 4-bit "
                    + "(groups of a multiple of 32), symmetric 8-bit, and unquantized layers");
        GgmlType type = typeOf(name, q);
        float[] worst = new float[1];
        gguf.tensor(name, type, q.rows(), q.cols(), out -> worst[0] = Q32Blocks.encode(q, type, out));
        report.add(new Pending(name, type, worst));
    }

    /** The 32-block type that holds q exactly (up to fp16 rounding of its scales), or an error saying what would. */
    static GgmlType typeOf(String name, QuantizedTensor q) {
        String what = name + " is " + q.bits() + "-bit with groups of " + q.groupSize();
        if (q.groupSize() % 32 != 0 || q.cols() % 32 != 0)
            throw new LowbitException(what + ": GGUF's 32-blocks need groups of a multiple of 32 (quantize with "
                    + "--group-size 32, 64, 128 or 256)");
        if (q.bits() == 4) return allZeros(q, 8) ? GgmlType.Q4_0 : GgmlType.Q4_1;
        if (q.bits() == 8 && allZeros(q, 128)) return GgmlType.Q8_0;
        throw new LowbitException(what + (q.bits() == 8 ? " asymmetric" : "")
                + ": GGUF exports 4-bit weights (Q4_0 / Q4_1) and symmetric 8-bit weights (Q8_0, --symmetric)");
    }

    private static boolean allZeros(QuantizedTensor q, float zero) {
        for (float z : q.zeros().toFloatArray()) if (z != zero) return false;
        return true;
    }
}
