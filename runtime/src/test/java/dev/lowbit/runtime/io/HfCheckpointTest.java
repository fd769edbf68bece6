package dev.lowbit.runtime.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face checkpoint folders: round trip, the rotary layout conversion, and bad folders. */
class HfCheckpointTest {
    static final LlamaConfig C = new LlamaConfig(16, 24, 2, 4, 2, 13, 32, 1e-5f, 10000f, false);

    @TempDir
    Path dir;

    @Test
    void saveThenLoadReturnsTheSameParameters() {
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, C, 9);
            HfCheckpoint.save(p, dir, Map.of("note", "test"));
            LlamaParameters back = HfCheckpoint.load(dir, arena);
            assertEquals(C, back.config());
            assertArrayEquals(p.flat().toFloatArray(), back.flat().toFloatArray());
        }
    }

    /**
     * A q_proj in Hugging Face's layout, rotated the Hugging Face way (rotate-half), equals the
     * loaded (reordered) q_proj rotated by lowbit's interleaved RoPE, up to the same reordering.
     */
    @Test
    void rotaryLayoutConversionMatchesRotateHalf() {
        int hd = C.headDim(), heads = C.heads(), pos = 5;
        Random rnd = new Random(4);
        try (Arena arena = Arena.ofConfined()) {
            Tensor hf = Tensor.allocate(arena, DType.F32, C.dim(), C.dim());
            for (long i = 0; i < hf.numel(); i++)
                hf.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
            float[] hfW = hf.toFloatArray();
            double[] x = new double[C.dim()];
            for (int i = 0; i < x.length; i++) x[i] = rnd.nextGaussian();
            double[] qHf = LlamaRef.matVec(hfW, x);
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < hd / 2; i++) { // rotate_half: (i, i + hd/2)
                    double angle = pos * Math.pow(C.ropeTheta(), -2.0 * i / hd),
                            a = qHf[h * hd + i],
                            b = qHf[h * hd + i + hd / 2];
                    qHf[h * hd + i] = a * Math.cos(angle) - b * Math.sin(angle);
                    qHf[h * hd + i + hd / 2] = b * Math.cos(angle) + a * Math.sin(angle);
                }
            HfCheckpoint.permuteRows(hf, heads, hd, true);
            double[] qOurs = LlamaRef.matVec(hf.toFloatArray(), x);
            LlamaRef.rope(qOurs, hd, pos, C.ropeTheta());
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < hd / 2; i++) {
                    assertEquals(qHf[h * hd + i], qOurs[h * hd + 2 * i], 1e-9);
                    assertEquals(qHf[h * hd + i + hd / 2], qOurs[h * hd + 2 * i + 1], 1e-9);
                }
        }
    }

    @Test
    void missingTensorsAndBadConfigsAreClearErrors() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            HfCheckpoint.save(LlamaParameters.initialize(arena, C, 1), dir, Map.of());
            String cfg = Files.readString(dir.resolve("config.json"));
            Files.writeString(
                    dir.resolve("config.json"), cfg.replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 3"));
            CheckpointException e = assertThrows(CheckpointException.class, () -> HfCheckpoint.load(dir, arena));
            assertTrue(
                    e.getMessage().contains("has no tensor 'model.layers.2.input_layernorm.weight'"), e.getMessage());
            Files.writeString(dir.resolve("config.json"), cfg.replace("\"hidden_size\" : 16", "\"hidden_size\" : 18"));
            e = assertThrows(CheckpointException.class, () -> HfCheckpoint.load(dir, arena));
            assertTrue(
                    e.getMessage().contains("hidden_size 18 is not a multiple of num_attention_heads 4"),
                    e.getMessage());
            Files.delete(dir.resolve("model.safetensors"));
            Files.writeString(dir.resolve("config.json"), cfg);
            e = assertThrows(CheckpointException.class, () -> HfCheckpoint.load(dir, arena));
            assertTrue(e.getMessage().contains("no model.safetensors"), e.getMessage());
        }
    }
}
