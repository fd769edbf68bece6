package dev.lowbit.methods.quant.qllm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.methods.TokenWindows;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.quant.rtn.Rtn;
import dev.lowbit.methods.quant.smoothquant.SmoothQuant;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** QLLM on the default model against full precision, RTN and SmoothQuant at the same settings. */
class QllmTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final int WINDOWS = 40;
    static int[] train, heldOut;

    @BeforeAll
    static void tokens() {
        try (Arena arena = Arena.ofConfined()) {
            var tok = ModelFiles.open(ROOT.resolve("models/default").toString(), arena)
                    .tokenizer()
                    .orElseThrow();
            Path data = Corpus.locate(null, ROOT);
            train = tok.encode(Corpus.trainingText(data));
            heldOut = tok.encode(Corpus.read(data.resolve(Corpus.HELD_OUT)));
        }
    }

    /** A shorter run than the CLI's defaults (32 samples, 60 steps), so the suite stays quick. */
    static QllmConfig quick(int wbits, int abits) {
        return QllmConfig.builder(wbits, abits)
                .samples(32)
                .steps(60)
                .searchTokens(1024)
                .build();
    }

    @Test
    void w4a4BeatsRtnAndSmoothQuantAndW4a8StaysNearFullPrecision() {
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp =
                    ModelFiles.open(ROOT.resolve("models/default").toString(), arena);
            double fpPpl = ppl(fp.model());
            QllmConfig a4 = quick(4, 4);
            int[][] calib = new TokenWindows(train, a4.seqLen(), a4.seed()).sequences(a4.samples());
            double rtn = ppl(Rtn.quantize(arena, fp.weights(), a4.weightSpec(), 4, 4));
            double sq = ppl(SmoothQuant.quantize(arena, fp.weights(), calib, 0.5f, a4.weightSpec(), 4, 4));
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            LlamaModel q4 = new Qllm(fp.weights(), a4, new PrintStream(log, true, StandardCharsets.UTF_8))
                    .quantize(arena, calib);
            double qllm4 = ppl(q4);
            LlamaModel q8 = new Qllm(fp.weights(), quick(4, 8), new PrintStream(OutputStream.nullOutputStream()))
                    .quantize(arena, calib);
            double qllm8 = ppl(q8);
            System.err.printf(
                    "W4A4 per-channel, %d windows: fp %.3f, RTN %.3f, SmoothQuant %.3f, QLLM %.3f; W4A8 QLLM %.3f%n",
                    WINDOWS, fpPpl, rtn, sq, qllm4, qllm8);
            assertTrue(qllm8 < 1.10 * fpPpl, "W4A8 QLLM within 10% of fp: " + qllm8 + " vs " + fpPpl);
            // margin: QLLM closes at least a quarter of RTN's gap to fp, and beats SmoothQuant by at least 1%
            assertTrue(
                    qllm4 < rtn - 0.25 * (rtn - fpPpl),
                    "W4A4 QLLM " + qllm4 + " vs RTN " + rtn + " (fp " + fpPpl + ")");
            assertTrue(qllm4 < 0.99 * sq, "W4A4 QLLM " + qllm4 + " vs SmoothQuant " + sq);

            // the error correction lowered the round's calibration MSE (its last progress line)
            Matcher m = Pattern.compile("calibration mse ([0-9.e+-]+) -> ([0-9.e+-]+)")
                    .matcher(log.toString(StandardCharsets.UTF_8));
            assertTrue(m.find(), log.toString(StandardCharsets.UTF_8));
            assertTrue(Double.parseDouble(m.group(2)) < 0.9 * Double.parseDouble(m.group(1)), m.group());
            // every linear is a real quantized layer: W4 per-channel codes behind the reassembly, A4 integer kernels
            for (int l = 0; l < fp.model().config().layers(); l++)
                for (Projection name : Projection.values()) {
                    Linear lin = q4.linear(l, name);
                    assertEquals(4, Linear.quantizedWeight(lin).bits());
                    assertEquals(4, Linear.activationBits(lin));
                }
        }
    }

    static double ppl(LlamaModel m) {
        return Perplexity.evaluate(m, heldOut, 128, WINDOWS).perplexity();
    }
}
