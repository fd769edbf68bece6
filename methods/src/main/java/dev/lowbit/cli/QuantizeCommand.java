package dev.lowbit.cli;

import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.quant.Metrics;
import dev.lowbit.methods.quant.Rtn;
import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.QuantSpec;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit quantize}: quantizes a model's linear layers and reports the cost in perplexity and KL. */
@Command(name = "quantize", description = "Quantize every block linear of a model; writes DIR with the model and metrics.json.")
final class QuantizeCommand implements Callable<Integer> {
    enum Method { rtn }

    @Spec
    CommandSpec spec;

    @Option(names = "--method", description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    Method method = Method.rtn;

    @Option(names = "--wbits", description = "weight bits: 2, 3, 4 or 8 (default: ${DEFAULT-VALUE})")
    int wbits = 4;

    @Option(names = "--group", description = "group size: 32, 64, 128, 256, or -1 for per-channel (default: ${DEFAULT-VALUE})")
    int group = 128;

    @Option(names = "--range", description = "min-max or MSE-searched ranges: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    QuantSpec.Range range = QuantSpec.Range.MINMAX;

    @Option(names = "--symmetric", description = "symmetric ranges (default: asymmetric)")
    boolean symmetric;

    @Option(names = "--model", description = "\"default\", a Hugging Face folder or a llama2.c .bin (default: ${DEFAULT-VALUE})")
    String model = "default";

    @Option(names = "--out", required = true, description = "output folder (written atomically, file by file)")
    Path out;

    @Option(names = "--data", description = "folder with the held-out novel (default: LOWBIT_DATA, then ../shared/data)")
    Path data;

    @Option(names = "--seq-len", description = "evaluation window (default: ${DEFAULT-VALUE})")
    int seqLen = 128;

    @Option(names = "--eval-windows", description = "held-out windows for perplexity (default: ${DEFAULT-VALUE})")
    int evalWindows = 200;

    @Option(names = "--json", description = "print metrics.json's object on stdout")
    boolean json;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        QuantSpec qs = new QuantSpec(wbits, group, symmetric, range, DType.F32); // bad bits or group fail here, before anything is written
        PrintWriter o = spec.commandLine().getOut();
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp = ModelFiles.open(model, arena);
            LlamaModel fpModel = fp.model();
            for (int l = 0; l < fpModel.config().layers(); l++)
                for (String name : LlamaModel.LINEARS) qs.groupSizeFor(fpModel.linear(l, name).inFeatures());
            checkWritable(out);
            System.err.printf("quantizing %s: %d-bit, group %s, %s%s ranges%n", model, wbits, group < 0 ? "per-channel" : group,
                    symmetric ? "symmetric " : "", range.name().toLowerCase());
            LlamaModel q = Rtn.quantize(arena, fp.weights(), qs);
            List<int[]> windows;
            double fpPpl = Double.NaN, qPpl = Double.NaN;
            if (fp.tokenizer().isPresent()) {
                int[] tokens = fp.tokenizer().get().encode(Corpus.read(Corpus.locate(data, home()).resolve(Corpus.HELD_OUT)));
                System.err.println("evaluating on held-out " + Corpus.HELD_OUT + " ...");
                fpPpl = Perplexity.evaluate(fpModel, tokens, seqLen, evalWindows).perplexity();
                qPpl = Perplexity.evaluate(q, tokens, seqLen, evalWindows).perplexity();
                windows = new ArrayList<>();
                for (int w = 0; w < 32 && (w + 1) * seqLen <= tokens.length; w++)
                    windows.add(Arrays.copyOfRange(tokens, w * seqLen, (w + 1) * seqLen));
            } else {
                windows = EvalCommand.sampledFrom(fpModel, 16, seqLen);
            }
            double kl = KlDivergence.evaluate(fpModel, q, windows).meanKl();
            QuantizedCheckpoint.save(q, out, Map.of("lowbit.method", method.name(), "lowbit.source", model));
            if (fp.tokenizer().isPresent()) TokenizerJson.save(fp.tokenizer().get(), out.resolve("tokenizer.json"));
            Metrics m = new Metrics(method.name(), wbits, 16, group, fpPpl, qPpl, kl, 0.0, (System.nanoTime() - t0) / 1e9,
                    Metrics.currentPeakRssMb());
            m.write(out.resolve("metrics.json"));
            if (json) {
                o.println(m.toJson());
            } else {
                o.printf("%s W%d g%s: perplexity %.3f (fp %.3f), KL to fp %.5f nats/token; %.0f s, peak RSS %.0f MB%n", method, wbits,
                        group < 0 ? "channel" : group, qPpl, fpPpl, kl, m.seconds(), m.peakRssMb());
                o.printf("wrote %s%n", out);
            }
        }
        return 0;
    }

    private static void checkWritable(Path dir) {
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".write-test", ".tmp");
            Files.delete(probe);
        } catch (IOException | SecurityException e) {
            throw new LowbitException("cannot write to --out " + dir + ": " + e.getMessage());
        }
    }

    private static Path home() {
        String h = System.getProperty("lowbit.home");
        return h == null ? Path.of("").toAbsolutePath() : Path.of(h);
    }
}
