package dev.lowbit.runtime.io.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Export -> GGUF -> import: the tensors are where llama.cpp looks for them (names, reversed dims,
 * block types), the blocks decode by the spec's formulas (written out here, independently of
 * Q32Blocks) to lowbit's weights within the difference the export reports, and re-importing gives
 * back the same codes.
 */
class GgufRoundTripTest {
    static final LlamaConfig C = new LlamaConfig(64, 128, 2, 4, 2, 40, 32, 1e-5f, 10000f, true);

    @TempDir
    Path dir;

    private static LlamaModel quantized(Arena arena, QuantSpec spec) {
        LlamaParameters p = LlamaParameters.initialize(arena, C, 7);
        return new LlamaModel(p.weights(), (l, name, w) -> new Linear.Quantized(Kernels.quantize(arena, w, spec)));
    }

    @Test
    void asymmetric4BitIsQ4_1AndDecodesByTheSpec() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel q = quantized(arena, QuantSpec.of(4, 64));
            Path file = dir.resolve("m.gguf");
            List<GgufExport.TensorReport> report = GgufExport.save(q, Optional.empty(), "t", file);
            GgufFile g = GgufFile.open(file, arena);
            assertEquals("llama", g.string("general.architecture"));
            assertEquals(2L, g.integer("llama.block_count", null));
            assertEquals(2L, g.integer("llama.attention.head_count_kv", null));
            assertEquals(2L, g.integer("general.quantization_version", null));
            assertTrue(!g.tensors().containsKey("output.weight"), "a tied head is the embedding");
            for (int l = 0; l < C.layers(); l++)
                for (Projection p : Projection.values()) {
                    String name = GgufNames.linear(l, p);
                    GgufFile.TensorInfo t = g.tensors().get(name);
                    QuantizedTensor w = linear(q, l, p);
                    assertEquals(GgmlType.Q4_1, t.type(), name);
                    assertArrayEquals(new long[] {w.cols(), w.rows()}, t.ne(), name + ": dims innermost first");
                    float reported = report.stream()
                            .filter(r -> r.name().equals(name))
                            .findFirst()
                            .orElseThrow()
                            .maxAbsDiff();
                    float worst = maxDiff(arena, w, t.data(), true);
                    assertEquals(reported, worst, 1e-7f, name);
                    // fp16 keeps 11 significant bits: d q is off by at most 15 half-ulps of d, m = -s z by one of m
                    assertTrue(worst <= 30 * 0x1p-11f * maxScale(w), name + ": only fp16 rounding, got " + worst);
                }
        }
    }

    @Test
    void reimportGivesTheSameCodesForEachBlockType() {
        record Case(QuantSpec spec, GgmlType type) {}
        for (Case c : List.of(
                new Case(QuantSpec.of(4, 32), GgmlType.Q4_1),
                new Case(new QuantSpec(4, 64, true, QuantSpec.Range.MINMAX, DType.F32), GgmlType.Q4_0),
                new Case(new QuantSpec(8, 32, true, QuantSpec.Range.MINMAX, DType.F16), GgmlType.Q8_0)))
            try (Arena arena = Arena.ofShared()) {
                LlamaModel q = quantized(arena, c.spec);
                Path file = dir.resolve(c.type + ".gguf");
                List<GgufExport.TensorReport> report = GgufExport.save(q, Optional.empty(), "t", file);
                assertEquals(c.type, report.get(2).type(), report.get(2).name());
                LlamaModel back = ModelFiles.open(file.toString(), arena).model();
                for (int l = 0; l < C.layers(); l++)
                    for (Projection p : Projection.values()) {
                        QuantizedTensor a = linear(q, l, p), b = linear(back, l, p);
                        assertEquals(32, b.groupSize());
                        assertEquals(a.bits(), b.bits());
                        for (long r = 0; r < a.rows(); r++)
                            for (long j = 0; j < a.cols(); j++)
                                if (a.code(r, j) != b.code(r, j))
                                    throw new AssertionError(c.type + " " + GgufNames.linear(l, p) + " code (" + r
                                            + ", " + j + "): " + a.code(r, j) + " became " + b.code(r, j));
                        float[] wa = Kernels.dequantize(arena, a).toFloatArray(),
                                wb = Kernels.dequantize(arena, b).toFloatArray();
                        float bound = 30 * 0x1p-11f * maxScale(a);
                        for (int i = 0; i < wa.length; i++)
                            assertEquals(wa[i], wb[i], bound, c.type + " weight " + i + " beyond fp16 rounding");
                    }
                assertArrayEquals(
                        q.weights().tokenEmbedding().toFloatArray(),
                        back.weights().tokenEmbedding().toFloatArray());
            }
    }

    @Test
    void layoutsWithoutAGgufFormAreRefusedNamingTheLayer() {
        try (Arena arena = Arena.ofShared()) {
            Map<QuantSpec, String> cases = Map.of(
                    QuantSpec.of(3, 32), "3-bit",
                    QuantSpec.of(8, 32), "symmetric 8-bit",
                    QuantSpec.of(2, 32), "2-bit");
            cases.forEach((spec, why) -> {
                LowbitException e = assertThrows(
                        LowbitException.class,
                        () -> GgufExport.save(quantized(arena, spec), Optional.empty(), "t", dir.resolve("x.gguf")));
                assertTrue(e.getMessage().startsWith("blk.0.attn_q.weight"), e.getMessage());
                assertTrue(e.getMessage().contains(why), e.getMessage());
            });
            assertTrue(!dir.resolve("x.gguf").toFile().exists(), "nothing written on failure");
        }
    }

    private static QuantizedTensor linear(LlamaModel m, int layer, Projection p) {
        return ((Linear.Quantized) m.linear(layer, p)).weight();
    }

    private static float maxScale(QuantizedTensor w) {
        float m = 0;
        for (float s : w.scales().toFloatArray()) m = Math.max(m, Math.abs(s));
        return m;
    }

    /** max |lowbit w - GGUF w| with the GGUF weights decoded as ggml-common.h defines block_q4_1. */
    private static float maxDiff(Arena arena, QuantizedTensor w, MemorySegment data, boolean q41) {
        Tensor ref = Kernels.dequantize(arena, w);
        float worst = 0;
        for (long r = 0; r < w.rows(); r++)
            for (long b = 0; b < w.cols() / 32; b++) {
                long at = (r * (w.cols() / 32) + b) * 20;
                float d = Float.float16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, at)),
                        m = Float.float16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2));
                for (int i = 0; i < 32; i++) {
                    int byt = Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, at + 4 + (i % 16)));
                    int code = i < 16 ? byt & 0xF : byt >> 4;
                    worst = Math.max(worst, Math.abs(ref.getFloat(r, b * 32 + i) - (d * code + m)));
                }
            }
        return worst;
    }
}
