package dev.lowbit.methods.quant.smoothquant;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.methods.TokenWindows;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.quant.gptq.Gptq;
import dev.lowbit.methods.quant.gptq.GptqConfig;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * GPTQ weights under SmoothQuant's smoothing (`--method smoothquant --init gptq`): on the default
 * model at W4A4 per-channel, the smoothed weights quantized by GPTQ beat the same smoothed weights
 * rounded to nearest on held-out Persuasion (40 windows of 128 tokens, as QllmTest scores them).
 */
class SmoothQuantGptqTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void gptqWeightsBeatRoundToNearestUnderSmoothing() {
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp =
                    ModelFiles.open(ROOT.resolve("models/default").toString(), arena);
            BpeTokenizer tok = fp.tokenizer().orElseThrow();
            Path data = Corpus.locate(null, ROOT);
            int[] heldOut = tok.encode(Corpus.read(data.resolve(Corpus.HELD_OUT)));
            int[][] calib = new TokenWindows(tok.encode(Corpus.trainingText(data)), 128, 1).sequences(32);
            LlamaWeights smoothed =
                    SmoothQuant.smooth(arena, fp.weights(), calib, 0.5f).weights();
            double fpPpl = Perplexity.evaluate(fp.model(), heldOut, 128, 40).perplexity();
            QuantSpec perChannel = QuantSpec.of(4, QuantSpec.PER_CHANNEL);
            double rtn = Perplexity.evaluate(
                            SmoothQuant.quantize(arena, fp.weights(), calib, 0.5f, perChannel, 4, 4), heldOut, 128, 40)
                    .perplexity();
            PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
            double gptq = Perplexity.evaluate(
                            new Gptq(GptqConfig.of(4, QuantSpec.PER_CHANNEL), 4, quiet)
                                    .quantize(arena, smoothed, calib, 4),
                            heldOut,
                            128,
                            40)
                    .perplexity();
            System.err.printf("W4A4 per-channel under SmoothQuant: fp %.3f, RTN %.3f, GPTQ %.3f%n", fpPpl, rtn, gptq);
            assertTrue(gptq < rtn, String.format("GPTQ %.3f vs RTN %.3f (fp %.3f)", gptq, rtn, fpPpl));
        }
    }
}
