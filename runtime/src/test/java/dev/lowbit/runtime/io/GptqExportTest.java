package dev.lowbit.runtime.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPTQ export decoded as AutoGPTQ decodes it (w = scale * (code - (qzero + 1)), Hugging Face
 * row order) gives lowbit's dequantized weights back, to within fp16 rounding of the scales.
 */
class GptqExportTest {
    static final LlamaConfig C = new LlamaConfig(64, 128, 1, 4, 2, 40, 32, 1e-5f, 10000f, true);

    @TempDir
    Path dir;

    @Test
    void decodedGptqTensorsEqualTheLowbitWeights() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaParameters p = LlamaParameters.initialize(arena, C, 4);
            LlamaModel q = new LlamaModel(
                    p.weights(), (l, name, w) -> new Linear.Quantized(Kernels.quantize(arena, w, QuantSpec.of(4, 32))));
            GptqExport.save(q, dir);
            var cfg = new ObjectMapper()
                    .readTree(dir.resolve("config.json").toFile())
                    .path("quantization_config");
            assertEquals("gptq", cfg.path("quant_method").asText());
            assertEquals(32, cfg.path("group_size").asInt());
            SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"), arena);
            for (Projection proj : Projection.values()) {
                String name = proj.hfName();
                String base = "model.layers.0."
                        + (Set.of("gate_proj", "up_proj", "down_proj").contains(name) ? "mlp." : "self_attn.") + name;
                Tensor qw = f.tensor(base + ".qweight"),
                        qz = f.tensor(base + ".qzeros"),
                        sc = f.tensor(base + ".scales"),
                        gi = f.tensor(base + ".g_idx");
                assertEquals(DType.F16, sc.dtype());
                long k = qw.dim(0) * 8, n = qw.dim(1);
                Tensor decoded = Tensor.allocate(arena, DType.F32, n, k);
                for (long col = 0; col < n; col++)
                    for (long j = 0; j < k; j++) {
                        int g = gi.segment().getAtIndex(ValueLayout.JAVA_INT, j);
                        int code = (qw.segment().getAtIndex(ValueLayout.JAVA_INT, (j / 8) * n + col) >>> (4 * (j % 8)))
                                & 0xF;
                        int zero = ((qz.segment().getAtIndex(ValueLayout.JAVA_INT, g * (n / 8) + col / 8)
                                                >>> (4 * (col % 8)))
                                        & 0xF)
                                + 1;
                        decoded.setFloat(sc.getFloat(g, col) * (code - zero), col, j);
                    }
                int heads = name.equals("q_proj") ? C.heads() : name.equals("k_proj") ? C.kvHeads() : 0;
                if (heads > 0)
                    HfCheckpoint.permuteRows(decoded, heads, C.headDim(), true); // back to lowbit's row order
                Tensor ours = Kernels.dequantize(arena, ((Linear.Quantized) q.linear(0, proj)).weight());
                float[] a = ours.toFloatArray(), b = decoded.toFloatArray();
                float[] s =
                        ((Linear.Quantized) q.linear(0, proj)).weight().scales().toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    double step = s[(int) ((i / k) * (k / 32) + (i % k) / 32)];
                    assertEquals(a[i], b[i], 15 * step * 0x1p-11 + 1e-7, base + " element " + i);
                }
            }
        }
    }

    @Test
    void onlyFourBitModelsExport() {
        try (Arena arena = Arena.ofShared()) {
            LlamaParameters p = LlamaParameters.initialize(arena, C, 4);
            LlamaModel q3 = new LlamaModel(
                    p.weights(), (l, name, w) -> new Linear.Quantized(Kernels.quantize(arena, w, QuantSpec.of(3, 32))));
            LowbitException e = assertThrows(LowbitException.class, () -> GptqExport.save(q3, dir));
            assertTrue(e.getMessage().contains("for 4-bit models"), e.getMessage());
        }
    }
}
