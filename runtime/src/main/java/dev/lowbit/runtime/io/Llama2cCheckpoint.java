package dev.lowbit.runtime.io;

import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * llama2.c's {@code .bin} checkpoints: a header of seven little-endian int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size — negative when the classifier is stored separately —
 * and seq_len), then fp32 tensors grouped by kind across layers. Memory-mapped; the weights are
 * views of the mapping. The file size must match the header exactly.
 */
public final class Llama2cCheckpoint {
    private static final int HEADER = 7 * Integer.BYTES;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cCheckpoint() {}

    public static LlamaWeights load(Path path, Arena arena) {
        MemorySegment file = MappedFile.map(path, arena);
        if (file.byteSize() < HEADER) throw corrupt(path, "shorter than its 28-byte header");
        int[] h = new int[7];
        for (int i = 0; i < 7; i++) h[i] = file.get(INT, 4L * i);
        int dim = h[0],
                hidden = h[1],
                layers = h[2],
                heads = h[3],
                kvHeads = h[4],
                vocab = Math.abs(h[5]),
                seqLen = h[6];
        boolean tied = h[5] > 0;
        LlamaConfig config;
        try {
            config = new ConfigFields(path)
                    .model(
                            new String[] {
                                "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"
                            },
                            new long[] {dim, hidden, layers, heads, kvHeads, vocab, seqLen},
                            1e-5f,
                            10000f,
                            tied);
        } catch (CheckpointException e) {
            throw corrupt(path, e.getMessage().substring(path.toString().length() + 2));
        }
        long floats = expectedFloats(config);
        long expected = HEADER + 4 * floats;
        if (file.byteSize() != expected)
            throw corrupt(
                    path,
                    "the header describes " + expected + " bytes but the file has " + file.byteSize()
                            + (file.byteSize() < expected ? " (truncated)" : " (trailing data)"));
        Reader r = new Reader(file);
        long kv = config.kvDim();
        Tensor emb = r.next(vocab, dim);
        Tensor[] attNorm = r.perLayer(layers, dim), wq = r.perLayer(layers, dim, dim), wk = r.perLayer(layers, kv, dim);
        Tensor[] wv = r.perLayer(layers, kv, dim), wo = r.perLayer(layers, dim, dim), ffnNorm = r.perLayer(layers, dim);
        // llama2.c's names: w1 gate_proj, w2 down_proj, w3 up_proj
        Tensor[] w1 = r.perLayer(layers, hidden, dim),
                w2 = r.perLayer(layers, dim, hidden),
                w3 = r.perLayer(layers, hidden, dim);
        Tensor finalNorm = r.next(dim);
        r.skip((long) seqLen * config.headDim()); // legacy freq_cis_real and freq_cis_imag
        Tensor output = tied ? emb : r.next(vocab, dim);
        FiniteValues.check(path, "token_embedding_table", emb);
        FiniteValues.check(path, "rms_final_weight", finalNorm);
        if (!tied) FiniteValues.check(path, "wcls", output);
        for (int l = 0; l < layers; l++) {
            String[] names = {"rms_att_weight", "wq", "wk", "wv", "wo", "rms_ffn_weight", "w1", "w2", "w3"};
            Tensor[] ts = {attNorm[l], wq[l], wk[l], wv[l], wo[l], ffnNorm[l], w1[l], w2[l], w3[l]};
            for (int i = 0; i < names.length; i++) FiniteValues.check(path, names[i] + "[" + l + "]", ts[i]);
        }
        List<LlamaWeights.Layer> list = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            Projections<Tensor> linears = new Projections<>(wq[l], wk[l], wv[l], wo[l], w1[l], w3[l], w2[l]);
            list.add(new LlamaWeights.Layer(attNorm[l], ffnNorm[l], linears));
        }
        return new LlamaWeights(config, emb, List.copyOf(list), finalNorm, output);
    }

    private static long expectedFloats(LlamaConfig c) {
        long kv = c.kvDim(), d = c.dim(), hdn = c.hiddenDim(), l = c.layers();
        long n = (long) c.vocabSize() * d
                + l * (2 * d + 2 * d * d + 2 * kv * d + 3 * hdn * d)
                + d
                + (long) c.maxSeqLen() * c.headDim();
        return c.tiedEmbeddings() ? n : n + (long) c.vocabSize() * d;
    }

    private static CheckpointException corrupt(Path path, String why) {
        return new CheckpointException(path + ": not a valid llama2.c checkpoint: " + why);
    }

    /** Hands out consecutive fp32 tensors from the mapping. */
    private static final class Reader {
        private final MemorySegment file;
        private long at = HEADER;

        Reader(MemorySegment file) {
            this.file = file;
        }

        Tensor next(long... shape) {
            long n = 1;
            for (long d : shape) n *= d;
            Tensor t = Tensor.wrap(file.asSlice(at, 4 * n), DType.F32, shape);
            at += 4 * n;
            return t;
        }

        Tensor[] perLayer(int layers, long... shape) {
            Tensor[] out = new Tensor[layers];
            for (int l = 0; l < layers; l++) out[l] = next(shape);
            return out;
        }

        void skip(long floats) {
            at += 4 * floats;
        }
    }
}
