package dev.lowbit.methods.quant.rtn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.QuantSpec;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RTN with quantized activations on the default model: W4A8 costs little, W4A4 more; the checkpoint keeps the activation bits. */
class RtnActivationsTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void w4a8IsCloseToWeightOnlyAndW4a4IsWorse(@TempDir Path dir) {
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp =
                    ModelFiles.open(ROOT.resolve("models/default").toString(), arena);
            int[] held = fp.tokenizer()
                    .orElseThrow()
                    .encode(Corpus.read(Corpus.locate(null, ROOT).resolve(Corpus.HELD_OUT)));
            QuantSpec spec = QuantSpec.of(4, 128);
            double w4 = Perplexity.evaluate(Rtn.quantize(arena, fp.weights(), spec), held, 128, 20)
                    .perplexity();
            LlamaModel a8 = Rtn.quantize(arena, fp.weights(), spec, 8, 8);
            double w4a8 = Perplexity.evaluate(a8, held, 128, 20).perplexity();
            double w4a4 = Perplexity.evaluate(Rtn.quantize(arena, fp.weights(), spec, 4, 4), held, 128, 20)
                    .perplexity();
            System.err.printf("RTN g128: W4A16 %.3f, W4A8 %.3f, W4A4 %.3f%n", w4, w4a8, w4a4);
            assertTrue(a8.linear(0, Projection.Q) instanceof Linear.ActQuantized);
            assertTrue(Math.abs(w4a8 / w4 - 1) < 0.03, "8-bit activations cost under 3%: " + w4a8 + " vs " + w4);
            // measured when written (first 20 held-out windows): W4A16 99.49, W4A8 99.52, W4A4 105.57
            assertTrue(w4a4 > 1.03 * w4a8, "4-bit activations cost over 3%: " + w4a4 + " vs " + w4a8);

            QuantizedCheckpoint.save(a8, dir, Map.of());
            LlamaModel back = QuantizedCheckpoint.load(dir, arena);
            assertTrue(back.linear(3, Projection.DOWN) instanceof Linear.ActQuantized l && l.activationBits() == 8);
            int[] seq = Arrays.copyOf(held, 16);
            assertArrayEquals(
                    a8.forward(arena, seq, a8.newCache(arena)).toFloatArray(),
                    back.forward(arena, seq, back.newCache(arena)).toFloatArray());
        }
    }
}
