package dev.lowbit.methods.quant.dlqat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.methods.quant.awq.Awq;
import dev.lowbit.methods.quant.awq.AwqConfig;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * DL-QAT started from AWQ (its scales folded into the frozen base, its clipping applied) holds
 * AWQ's model before training: the same codes, scales and zeros in every linear, the same folded
 * norms, so the same logits as AWQ's own quantized model.
 */
class DlQatAwqStartTest {
    static final LlamaConfig C = new LlamaConfig(64, 128, 2, 4, 4, 40, 32, 1e-5f, 10000f, true);

    @Test
    void beforeTrainingTheModelIsAwqs() {
        try (Arena arena = Arena.ofShared()) {
            LlamaParameters p = LlamaParameters.initialize(arena, C, 4);
            Random rnd = new Random(5);
            int[][] calibration = new int[6][24];
            for (int[] s : calibration) for (int i = 0; i < s.length; i++) s[i] = rnd.nextInt(C.vocabSize());
            PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
            AwqConfig awq = AwqConfig.of(QuantSpec.of(3, 32)); // with the clipping search
            LlamaModel want = new Awq(awq, quiet).quantize(arena, p.weights(), calibration, 16, 16);
            DlQatConfig cfg = DlQatConfig.builder(3, 32)
                    .steps(1)
                    .batch(1)
                    .seqLen(16)
                    .checkpointEvery(1000)
                    .build();
            LlamaParameters base = new Awq(awq, quiet).transform(arena, p.weights(), calibration);
            LlamaModel got = new DlQat(arena, base, p, cfg, "awq", Map.of()).export(arena);
            for (int l = 0; l < C.layers(); l++)
                for (Projection proj : Projection.values()) {
                    QuantizedTensor a = ((Linear.Quantized) want.linear(l, proj)).weight(),
                            b = ((Linear.Quantized) got.linear(l, proj)).weight();
                    for (long r = 0; r < a.rows(); r++)
                        for (long j = 0; j < a.cols(); j++)
                            assertEquals(
                                    a.code(r, j), b.code(r, j), proj + " of layer " + l + " [" + r + ", " + j + "]");
                    assertArrayEquals(a.scales().toFloatArray(), b.scales().toFloatArray());
                    assertArrayEquals(a.zeros().toFloatArray(), b.zeros().toFloatArray());
                }
            int[] tokens = {3, 17, 5, 39, 0, 22, 8, 11};
            assertArrayEquals(
                    want.forward(arena, tokens, want.newCache(arena)).toFloatArray(),
                    got.forward(arena, tokens, got.newCache(arena)).toFloatArray(),
                    "the folded norms are AWQ's too");
        }
    }
}
