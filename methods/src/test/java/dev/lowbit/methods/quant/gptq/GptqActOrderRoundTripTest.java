package dev.lowbit.methods.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.io.GptqExport;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GPTQ act-order model survives lowbit's checkpoint bit for bit (codes, column order, logits),
 * and its GPTQ export, decoded as AutoGPTQ decodes it (w[o, i] = scale[g_idx[i], o] · (code -
 * (qzero[g_idx[i], o] + 1)), q/k rows in Hugging Face order), gives the model's weights back to
 * within fp16 rounding of the scales.
 */
class GptqActOrderRoundTripTest {
    static final LlamaConfig C = new LlamaConfig(64, 128, 2, 4, 2, 40, 32, 1e-5f, 10000f, true);

    @TempDir
    Path dir;

    static LlamaModel quantized(Arena arena) {
        LlamaParameters p = LlamaParameters.initialize(arena, C, 4);
        Random rnd = new Random(2);
        int[][] calibration = new int[6][24];
        for (int[] s : calibration) for (int i = 0; i < s.length; i++) s[i] = rnd.nextInt(C.vocabSize());
        GptqConfig cfg = new GptqConfig(QuantSpec.of(4, 32), 0.01, true);
        return new Gptq(cfg, 16, new PrintStream(OutputStream.nullOutputStream()))
                .quantize(arena, p.weights(), calibration);
    }

    /** The layer's effective weights [out, in]: the codes' dequantized columns put back at their input channels. */
    static float[] effectiveWeights(Arena arena, Linear l) {
        Linear.Reassembled r = (Linear.Reassembled) l;
        QuantizedTensor q = ((Linear.Quantized) r.inner()).weight();
        float[] deq = Kernels.dequantize(arena, q).toFloatArray();
        int[] order = r.map().ia().segment().asSlice(0, 4 * q.cols()).toArray(ValueLayout.JAVA_INT);
        int n = (int) q.rows(), k = (int) q.cols();
        float[] w = new float[n * k];
        for (int o = 0; o < n; o++) for (int j = 0; j < k; j++) w[o * k + order[j]] = deq[o * k + j];
        return w;
    }

    @Test
    void theCheckpointKeepsCodesOrderAndLogits() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel q = quantized(arena);
            QuantizedCheckpoint.save(q, dir, Map.of());
            LlamaModel loaded = QuantizedCheckpoint.load(dir, arena);
            for (int l = 0; l < C.layers(); l++)
                for (Projection p : Projection.values()) {
                    Linear a = q.linear(l, p), b = loaded.linear(l, p);
                    assertTrue(b instanceof Linear.Reassembled, p + " loads behind its column order");
                    assertArrayEquals(effectiveWeights(arena, a), effectiveWeights(arena, b), p + " of layer " + l);
                }
            int[] tokens = {1, 7, 3, 22, 39, 0, 5};
            float[] want = q.forward(arena, tokens, q.newCache(arena)).toFloatArray();
            assertArrayEquals(
                    want, loaded.forward(arena, tokens, loaded.newCache(arena)).toFloatArray());
        }
    }

    /** Hugging Face row r of a q/k projection is lowbit's interleaved row (rotate-half vs interleaved RoPE pairs). */
    static int lowbitRow(int hfRow, int heads) {
        if (heads == 0) return hfRow;
        int headDim = C.dim() / C.heads(), h = hfRow / headDim, i = hfRow % headDim, half = headDim / 2;
        return h * headDim + (i < half ? 2 * i : 2 * (i - half) + 1);
    }

    @Test
    void theGptqExportDecodesToTheModelsWeightsThroughGIdx() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel q = quantized(arena);
            GptqExport.save(q, dir);
            var qc = new ObjectMapper()
                    .readTree(dir.resolve("config.json").toFile())
                    .path("quantization_config");
            assertTrue(qc.path("desc_act").asBoolean(), "desc_act is set");
            SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"), arena);
            for (int l = 0; l < C.layers(); l++)
                for (Projection p : Projection.values()) {
                    String base = p.weightName(l).substring(0, p.weightName(l).length() - ".weight".length());
                    Tensor qw = f.tensor(base + ".qweight"),
                            qz = f.tensor(base + ".qzeros"),
                            sc = f.tensor(base + ".scales");
                    int[] gIdx = f.tensor(base + ".g_idx")
                            .segment()
                            .asSlice(0, 4 * qw.dim(0) * 8)
                            .toArray(ValueLayout.JAVA_INT);
                    int k = (int) qw.dim(0) * 8, n = (int) qw.dim(1);
                    int heads = p == Projection.Q ? C.heads() : p == Projection.K ? C.kvHeads() : 0;
                    float[] want = effectiveWeights(arena, q.linear(l, p));
                    boolean permuted = false;
                    for (int i = 0; i < k; i++) permuted |= gIdx[i] != i / 32;
                    assertTrue(permuted, base + ": act-order gives a g_idx other than i / group");
                    for (int o = 0; o < n; o++)
                        for (int i = 0; i < k; i++) {
                            int g = gIdx[i];
                            int code = (qw.segment().getAtIndex(ValueLayout.JAVA_INT, (long) (i / 8) * n + o)
                                            >>> (4 * (i % 8)))
                                    & 0xF;
                            int zero = ((qz.segment().getAtIndex(ValueLayout.JAVA_INT, (long) g * (n / 8) + o / 8)
                                                    >>> (4 * (o % 8)))
                                            & 0xF)
                                    + 1;
                            float scale = sc.getFloat(g, o);
                            float expected = want[lowbitRow(o, heads) * k + i];
                            assertEquals(
                                    expected,
                                    scale * (code - zero),
                                    15 * Math.abs(scale) * 0x1p-10 + 1e-7,
                                    base + " [" + o + ", " + i + "]");
                        }
                }
        }
    }
}
