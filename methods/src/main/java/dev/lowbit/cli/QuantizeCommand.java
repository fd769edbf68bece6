package dev.lowbit.cli;

import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.TokenWindows;
import dev.lowbit.methods.quant.DlQat;
import dev.lowbit.methods.quant.DlQatConfig;
import dev.lowbit.methods.quant.Metrics;
import dev.lowbit.methods.quant.Rtn;
import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.QuantSpec;
import dev.lowbit.runtime.io.GptqExport;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaParameters;
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
    enum Method { rtn, dlqat }

    /** Where an interrupted DL-QAT run leaves its state; removed once the model is written. */
    static final String DLQAT_CHECKPOINT = "dlqat-checkpoint.safetensors";

    @Spec
    CommandSpec spec;

    @Option(names = "--method", description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    Method method = Method.rtn;

    @Option(names = "--wbits", description = "weight bits: 2, 3, 4, 6 or 8 (default: ${DEFAULT-VALUE})")
    int wbits = 4;

    @Option(names = "--abits", description = "activation bits: 16 (weights only), or 8 or 4 (per-token dynamic, integer kernels; "
            + "needs --wbits 4 or 8; rtn only for now) (default: ${DEFAULT-VALUE})")
    int abits = 16;

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

    @Option(names = "--steps", description = "DL-QAT training steps (default: ${DEFAULT-VALUE})")
    int steps = DlQatConfig.defaults(4, 128).steps();

    @Option(names = "--rank", description = "DL-QAT LoRA rank (default: ${DEFAULT-VALUE})")
    int rank = DlQatConfig.defaults(4, 128).rank();

    @Option(names = "--lr", description = "DL-QAT learning rate of the LoRA factors (default: ${DEFAULT-VALUE})")
    float lr = DlQatConfig.defaults(4, 128).lrLora();

    @Option(names = "--lr-magnitude", description = "DL-QAT learning rate of the magnitudes (default: ${DEFAULT-VALUE})")
    float lrMagnitude = DlQatConfig.defaults(4, 128).lrMagnitude();

    @Option(names = "--batch", description = "DL-QAT sequences per step (default: ${DEFAULT-VALUE})")
    int batch = DlQatConfig.defaults(4, 128).batch();

    @Option(names = "--kl-weight", description = "DL-QAT weight of the KL to the full-precision model's next-token distribution "
            + "added to the next-token loss; 0 turns it off (default: ${DEFAULT-VALUE})")
    float klWeight = DlQatConfig.defaults(4, 128).klWeight();

    @Option(names = "--checkpoint-every", description = "DL-QAT steps between resumable checkpoints in DIR (default: ${DEFAULT-VALUE})")
    int checkpointEvery = DlQatConfig.defaults(4, 128).checkpointEvery();

    @Option(names = "--stop-after", hidden = true, description = "stop DL-QAT after this step, leaving a checkpoint to resume from")
    int stopAfter = Integer.MAX_VALUE;

    @Option(names = "--seed", description = "DL-QAT seed (default: ${DEFAULT-VALUE})")
    long seed = DlQatConfig.defaults(4, 128).seed();

    @Option(names = "--gptq", description = "also write a GPTQ-format copy (4-bit only) into DIR/gptq for the Python stack")
    boolean gptq;

    @Option(names = "--json", description = "print metrics.json's object on stdout")
    boolean json;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        QuantSpec qs = new QuantSpec(wbits, group, symmetric, range, DType.F32); // bad bits or group fail here, before anything is written
        if (gptq && wbits != 4) throw new LowbitException("--gptq exports 4-bit models only; use --wbits 4");
        if (abits != 16 && abits != 8 && abits != 4) throw new LowbitException("--abits " + abits + " is not supported: use 16, 8 or 4");
        if (abits != 16 && wbits != 4 && wbits != 8)
            throw new LowbitException("--abits " + abits + " runs on the integer kernels, which take 4- or 8-bit weights; use --wbits 4 or 8");
        if (abits != 16 && method != Method.rtn) throw new LowbitException("--abits applies to --method rtn only; DL-QAT keeps activations at 16 bits");
        if (abits != 16 && gptq) throw new LowbitException("the GPTQ format has no activation quantization; drop --gptq or --abits");
        PrintWriter o = spec.commandLine().getOut();
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp = ModelFiles.open(model, arena);
            LlamaModel fpModel = fp.model();
            for (int l = 0; l < fpModel.config().layers(); l++)
                for (String name : LlamaModel.LINEARS) qs.groupSizeFor(fpModel.linear(l, name).inFeatures());
            checkWritable(out);
            System.err.printf("quantizing %s: %d-bit, group %s, %s%s ranges%s%n", model, wbits, group < 0 ? "per-channel" : group,
                    symmetric ? "symmetric " : "", range.name().toLowerCase(),
                    abits == 16 ? "" : "; activations " + abits + "-bit per token (integer kernels)");
            LlamaModel q;
            Path deleteAfterSuccess = null;
            double trainableFraction = 0;
            if (method == Method.rtn) {
                q = Rtn.quantize(arena, fp.weights(), qs, abits);
            } else {
                if (symmetric || range != QuantSpec.Range.MINMAX)
                    throw new LowbitException("DL-QAT starts from asymmetric min-max grids; drop --symmetric and --range");
                DlQatConfig cfg = new DlQatConfig(wbits, group, rank, 1f, steps, batch, seqLen, lr, lrMagnitude, klWeight, checkpointEvery,
                        seed);
                DlQat dl = new DlQat(arena, LlamaParameters.copyOf(arena, fp.weights()), cfg);
                trainableFraction = dl.trainableFraction();
                System.err.printf("DL-QAT: %d steps of %d x %d tokens, rank %d, KL weight %s, %.3f%% of parameters trainable%n", steps, batch,
                        seqLen, rank, klWeight, 100 * trainableFraction);
                Path checkpoint = out.resolve(DLQAT_CHECKPOINT);
                if (!dl.train(trainingBatches(fp, fpModel), System.err, checkpoint, stopAfter)) return 0;
                deleteAfterSuccess = checkpoint;
                q = dl.export(arena);
            }
            List<int[]> windows;
            double fpPpl = Double.NaN, qPpl = Double.NaN;
            if (fp.tokenizer().isPresent()) {
                int[] tokens = fp.tokenizer().get().encode(Corpus.read(Corpus.locate(data, ProjectHome.get()).resolve(Corpus.HELD_OUT)));
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
            if (gptq) {
                GptqExport.save(q, out.resolve("gptq"));
                if (fp.tokenizer().isPresent()) TokenizerJson.save(fp.tokenizer().get(), out.resolve("gptq").resolve("tokenizer.json"));
            }
            Metrics m = new Metrics(method.name(), wbits, abits, group, fpPpl, qPpl, kl, trainableFraction, (System.nanoTime() - t0) / 1e9,
                    Metrics.currentPeakRssMb());
            m.write(out.resolve("metrics.json"));
            if (deleteAfterSuccess != null) deleteCheckpoint(deleteAfterSuccess);
            if (json) {
                o.println(m.toJson());
            } else {
                String ppl = Double.isNaN(qPpl) ? "no perplexity (no tokenizer)" : String.format("perplexity %.3f (fp %.3f)", qPpl, fpPpl);
                o.printf("%s W%dA%d g%s: %s, KL to fp %.5f nats/token; %.0f s, peak RSS %.0f MB%n", method, wbits, abits,
                        group < 0 ? "channel" : group, ppl, kl, m.seconds(), m.peakRssMb());
                o.printf("wrote %s%n", out);
            }
        }
        return 0;
    }

    /** Windows of the training novels, or (for a model without a tokenizer) of text the model samples itself. */
    private TokenWindows trainingBatches(ModelFiles.Loaded fp, LlamaModel fpModel) {
        int[] tokens;
        if (fp.tokenizer().isPresent()) {
            tokens = fp.tokenizer().get().encode(Corpus.trainingText(Corpus.locate(data, ProjectHome.get())));
        } else {
            List<int[]> samples = EvalCommand.sampledFrom(fpModel, 64, seqLen + 1, 50_000);
            tokens = samples.stream().flatMapToInt(java.util.Arrays::stream).toArray();
        }
        return new TokenWindows(tokens, seqLen, seed);
    }

    private static void deleteCheckpoint(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new LowbitException("the model is written, but the checkpoint " + file + " could not be removed: " + e.getMessage());
        }
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
}
