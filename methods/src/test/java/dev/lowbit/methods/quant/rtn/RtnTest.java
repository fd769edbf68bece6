package dev.lowbit.methods.quant.rtn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.io.Llama2cCheckpoint;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tensor.QuantSpec;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Round-to-nearest on stories260K (per-channel: its SwiGLU width 172 has no group size dividing it). */
class RtnTest {
    static final Path STORIES =
            Path.of(System.getProperty("lowbit.shared.dir", "../../shared"), "models", "stories260K.bin");

    @TempDir
    Path dir;

    static List<int[]> sample(LlamaModel model, int count, int len) {
        Generator g = new Generator(model, Optional.empty());
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            int[] gen = g.generate(new int[] {1}, new Generator.Options(len - 1, 1f, 1f, s, -1), null);
            int[] seq = new int[len];
            seq[0] = 1;
            System.arraycopy(gen, 0, seq, 1, gen.length);
            out.add(seq);
        }
        return out;
    }

    @Test
    void quantizedModelEqualsTheDenseModelOfItsDequantizedWeightsAndSurvivesSaveAndLoad() {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights w = Llama2cCheckpoint.load(STORIES, arena);
            LlamaModel q = Rtn.quantize(arena, w, QuantSpec.of(4, QuantSpec.PER_CHANNEL));
            LlamaModel deq = new LlamaModel(
                    w,
                    (l, name, t) -> new Linear.Dense(
                            Kernels.dequantize(arena, ((Linear.Quantized) q.linear(l, name)).weight())));
            int[] seq = sample(new LlamaModel(w), 1, 24).get(0);
            float[] a = q.forward(arena, seq, q.newCache(arena)).toFloatArray(),
                    b = deq.forward(arena, seq, deq.newCache(arena)).toFloatArray();
            for (int i = 0; i < a.length; i++)
                assertEquals(b[i], a[i], 1e-3 * Math.max(1, Math.abs(b[i])), "logit " + i);

            QuantizedCheckpoint.save(q, dir, Map.of());
            assertTrue(QuantizedCheckpoint.isQuantized(dir));
            LlamaModel back = QuantizedCheckpoint.load(dir, arena);
            assertArrayEquals(a, back.forward(arena, seq, back.newCache(arena)).toFloatArray());
        }
    }

    @Test
    void fewerBitsMoveFurtherFromFullPrecision() {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights w = Llama2cCheckpoint.load(STORIES, arena);
            LlamaModel fp = new LlamaModel(w);
            List<int[]> seqs = sample(fp, 4, 48);
            double kl8 = KlDivergence.evaluate(fp, Rtn.quantize(arena, w, QuantSpec.of(8, QuantSpec.PER_CHANNEL)), seqs)
                    .meanKl();
            double kl4 = KlDivergence.evaluate(fp, Rtn.quantize(arena, w, QuantSpec.of(4, QuantSpec.PER_CHANNEL)), seqs)
                    .meanKl();
            double kl2 = KlDivergence.evaluate(fp, Rtn.quantize(arena, w, QuantSpec.of(2, QuantSpec.PER_CHANNEL)), seqs)
                    .meanKl();
            assertTrue(kl8 < kl4 && kl4 < kl2, "KL to fp: W8 " + kl8 + ", W4 " + kl4 + ", W2 " + kl2);
            assertTrue(
                    10 * kl8 < kl4,
                    "8-bit RTN should be an order of magnitude closer than 4-bit: " + kl8 + " vs " + kl4);
        }
    }
}
