package dev.lowbit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.TokenWindows;
import dev.lowbit.methods.quant.dlqat.DlQat;
import dev.lowbit.methods.quant.dlqat.DlQatConfig;
import dev.lowbit.methods.quant.Metrics;
import dev.lowbit.methods.quant.rtn.Rtn;
import dev.lowbit.methods.quant.smoothquant.SmoothQuant;
import dev.lowbit.methods.quant.qllm.Qllm;
import dev.lowbit.methods.quant.qllm.QllmConfig;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.io.GptqExport;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.train.LlamaParameters;
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
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import dev.lowbit.runtime.model.Linear;

/** {@code lowbit quantize}: quantizes a model's linear layers and reports the cost in perplexity and KL. */
@Command(name = "quantize", description = "Quantize every block linear of a model; writes DIR with the model and metrics.json.")
final class QuantizeCommand implements Callable<Integer> {
    enum Method { rtn, smoothquant, dlqat, qllm }

    /** Where an interrupted DL-QAT run leaves its state; removed once the model is written. */
    static final String DLQAT_CHECKPOINT = "dlqat-checkpoint.safetensors";
    static final String QLLM_CHECKPOINT = "qllm-checkpoint.safetensors";

    @Spec
    CommandSpec spec;

    @Option(names = "--method", description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    Method method = Method.rtn;

    @Option(names = "--wbits", description = "weight bits: 2, 3, 4, 6 or 8 (default: ${DEFAULT-VALUE})")
    int wbits = 4;

    @Option(names = "--abits", description = "activation bits: 16 (weights only), or 4, 6 or 8 per token, dynamic, asymmetric "
            + "(integer kernels for W4/W8 x A4/A8, simulated by fake quantization otherwise; not with dlqat) (default: ${DEFAULT-VALUE})")
    int abits = 16;

    @Option(names = "--quantize-qkv", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "with --abits below 16, also quantize the attention's queries, keys and values per token and head (default: on)")
    boolean quantizeQkv;

    @Option(names = "--group", description = "group size: 32, 64, 128, 256, or -1 for per-channel "
            + "(default: 128 for weights only, per-channel with --abits below 16)")
    Integer group;

    @Option(names = "--range", description = "min-max or MSE-searched ranges: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    QuantSpec.Range range = QuantSpec.Range.MINMAX;

    @Option(names = "--symmetric", description = "symmetric ranges (default: asymmetric)")
    boolean symmetric;

    @Option(names = "--model", description = "\"default\", a Hugging Face folder or a llama2.c .bin (default: ${DEFAULT-VALUE})")
    String model = "default";

    @Option(names = "--out", required = true, description = "output folder (written atomically, file by file)")
    Path out;

    @Option(names = "--data", description = "folder with the novels (default: LOWBIT_DATA, then ../shared/data)")
    Path data;

    @Option(names = "--seq-len", description = "evaluation, training and calibration window (default: ${DEFAULT-VALUE})")
    int seqLen = 128;

    @Option(names = "--eval-windows", description = "held-out windows for perplexity (default: ${DEFAULT-VALUE})")
    int evalWindows = 200;

    @Option(names = "--steps", description = "training steps: DL-QAT's, or QLLM's per round of blocks (default: "
            + "dlqat 200, qllm 200)")
    Integer steps;

    @Option(names = "--rank", description = "LoRA rank (default: dlqat 8, qllm 4)")
    Integer rank;

    @Option(names = "--lr", description = "learning rate of the LoRA factors (default: dlqat 2e-3, qllm 5e-3)")
    Float lr;

    @Option(names = "--batch", description = "sequences per training step (default: ${DEFAULT-VALUE})")
    int batch = 8;

    @Option(names = "--lr-magnitude", description = "DL-QAT learning rate of the magnitudes (default: ${DEFAULT-VALUE})")
    float lrMagnitude = DlQatConfig.defaults(4, 128).lrMagnitude();

    @Option(names = "--kl-weight", description = "DL-QAT weight of the KL to the full-precision model's next-token distribution "
            + "added to the next-token loss; 0 turns it off (default: ${DEFAULT-VALUE})")
    float klWeight = DlQatConfig.defaults(4, 128).klWeight();

    @Option(names = "--checkpoint-every", description = "DL-QAT steps between resumable checkpoints in DIR (default: ${DEFAULT-VALUE})")
    int checkpointEvery = DlQatConfig.defaults(4, 128).checkpointEvery();

    @Option(names = "--stop-after", hidden = true, description = "stop DL-QAT after this step, or QLLM after the round that finishes this many blocks, leaving a checkpoint to resume from")
    int stopAfter = Integer.MAX_VALUE;

    @Option(names = "--calib-samples", description = "qllm / smoothquant calibration sequences from the training text (default: ${DEFAULT-VALUE})")
    int calibSamples = QllmConfig.defaults(4, 4).samples();

    @Option(names = "--alpha", description = "smoothquant migration strength (default: ${DEFAULT-VALUE})")
    float alpha = 0.5f;

    @Option(names = "--reassembly", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "qllm channel disassembly/assembly with the per-layer threshold search (default: on)")
    boolean reassembly;

    @Option(names = "--error-correction", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "qllm low-rank error correction, trained block-wise and merged (default: on)")
    boolean errorCorrection;

    @Option(names = "--train-norms", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "qllm error correction also trains the blocks' RMSNorm weights (default: on)")
    boolean trainNorms;

    @Option(names = "--blocks-per-round", description = "qllm blocks trained together per error-correction round (default: ${DEFAULT-VALUE})")
    int blocksPerRound = QllmConfig.defaults(4, 4).blocksPerRound();

    @Option(names = "--search-tokens", description = "qllm calibration tokens for the reassembly threshold search (default: ${DEFAULT-VALUE})")
    int searchTokens = QllmConfig.defaults(4, 4).searchTokens();

    @Option(names = "--seed", description = "training / calibration seed (default: ${DEFAULT-VALUE})")
    long seed = DlQatConfig.defaults(4, 128).seed();

    @Option(names = "--gptq", description = "also write a GPTQ-format copy (4-bit only) into DIR/gptq for the Python stack")
    boolean gptq;

    @Option(names = "--json", description = "print metrics.json's object on stdout")
    boolean json;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        int g = group != null ? group : abits < 16 ? QuantSpec.PER_CHANNEL : 128;
        QuantSpec qs = new QuantSpec(wbits, g, symmetric, range, DType.F32); // bad bits or group fail here, before anything is written
        if (gptq && wbits != 4) throw new LowbitException("--gptq exports 4-bit models only; use --wbits 4");
        if (abits != 16 && abits != 8 && abits != 6 && abits != 4) throw new LowbitException("--abits " + abits + " is not supported: use 16, 8, 6 or 4");
        if (abits != 16 && method == Method.dlqat) throw new LowbitException("DL-QAT keeps activations at 16 bits; drop --abits or use --method qllm");
        if (abits == 16 && (method == Method.qllm || method == Method.smoothquant))
            throw new LowbitException("--method " + method + " quantizes activations; give --abits 4, 6 or 8");
        if (abits != 16 && gptq) throw new LowbitException("the GPTQ format has no activation quantization; drop --gptq or --abits");
        if ((method == Method.qllm || method == Method.smoothquant || method == Method.dlqat) && (symmetric || range != QuantSpec.Range.MINMAX))
            throw new LowbitException(method + " uses asymmetric min-max ranges; drop --symmetric and --range");
        int qkvBits = quantizeQkv && abits < 16 ? abits : 16;
        PrintWriter o = spec.commandLine().getOut();
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp = ModelFiles.open(model, arena);
            LlamaModel fpModel = fp.model();
            for (int l = 0; l < fpModel.config().layers(); l++)
                for (Linear linear : fpModel.linears(l).toList()) qs.groupSizeFor(linear.inFeatures());
            checkWritable(out);
            boolean integer = abits < 16 && (abits == 4 || abits == 8) && (wbits == 4 || wbits == 8);
            System.err.printf("quantizing %s with %s: %d-bit weights, group %s, %s%s ranges%s%n", model, method, wbits, g < 0 ? "per-channel" : g,
                    symmetric ? "symmetric " : "", range.name().toLowerCase(), abits == 16 ? ""
                            : "; activations " + abits + "-bit per token" + (qkvBits < 16 ? " (and q/k/v per head)" : "")
                            + (integer ? ", integer kernels" : ", simulated (fake-quantized: no integer kernel for W" + wbits + "A" + abits + ")"));
            LlamaModel q;
            Path deleteAfterSuccess = null;
            double trainableFraction = 0;
            ObjectNode details = null;
            switch (method) {
                case rtn -> q = Rtn.quantize(arena, fp.weights(), qs, abits, qkvBits);
                case smoothquant -> q = SmoothQuant.quantize(arena, fp.weights(), calibration(fp, fpModel, calibSamples), alpha, qs, abits, qkvBits);
                case qllm -> {
                    QllmConfig d = QllmConfig.defaults(wbits, abits);
                    QllmConfig cfg = new QllmConfig(wbits, abits, g, reassembly, errorCorrection, orElse(rank, d.rank()), d.loraScale(), blocksPerRound,
                            calibSamples, seqLen, orElse(steps, d.steps()), batch, orElse(lr, d.lr()), trainNorms, quantizeQkv, searchTokens, seed);
                    Qllm qllm = new Qllm(fp.weights(), cfg, System.err);
                    Path checkpoint = out.resolve(QLLM_CHECKPOINT);
                    Optional<LlamaModel> done = qllm.quantize(arena, calibration(fp, fpModel, calibSamples), checkpoint, stopAfter);
                    if (done.isEmpty()) return 0;
                    q = done.get();
                    deleteAfterSuccess = checkpoint;
                    trainableFraction = qllm.trainableFraction();
                    details = qllmDetails(qllm, cfg);
                }
                case dlqat -> {
                    DlQatConfig d = DlQatConfig.defaults(wbits, g);
                    DlQatConfig cfg = new DlQatConfig(wbits, g, orElse(rank, d.rank()), 1f, orElse(steps, d.steps()), batch, seqLen, orElse(lr, d.lrLora()),
                            lrMagnitude, klWeight, checkpointEvery, seed);
                    DlQat dl = new DlQat(arena, LlamaParameters.copyOf(arena, fp.weights()), cfg);
                    trainableFraction = dl.trainableFraction();
                    System.err.printf("DL-QAT: %d steps of %d x %d tokens, rank %d, KL weight %s, %.3f%% of parameters trainable%n", cfg.steps(), batch,
                            seqLen, cfg.rank(), klWeight, 100 * trainableFraction);
                    Path checkpoint = out.resolve(DLQAT_CHECKPOINT);
                    if (!dl.train(trainingBatches(fp, fpModel), System.err, checkpoint, stopAfter)) return 0;
                    deleteAfterSuccess = checkpoint;
                    q = dl.export(arena);
                }
                default -> throw new IllegalStateException();
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
            Metrics m = new Metrics(method.name(), wbits, abits, g, fpPpl, qPpl, kl, trainableFraction, (System.nanoTime() - t0) / 1e9,
                    Metrics.currentPeakRssMb());
            ObjectNode metrics = m.toJson();
            metrics.put("qkv_bits", qkvBits).put("activation_kernel", abits == 16 ? "none" : integer ? "integer" : "simulated");
            if (details != null) metrics.set(method.name(), details);
            Metrics.write(out.resolve("metrics.json"), metrics);
            if (deleteAfterSuccess != null) deleteCheckpoint(deleteAfterSuccess);
            if (json) {
                o.println(metrics);
            } else {
                String ppl = Double.isNaN(qPpl) ? "no perplexity (no tokenizer)" : String.format("perplexity %.3f (fp %.3f)", qPpl, fpPpl);
                o.printf("%s W%dA%d %s: %s, KL to fp %.5f nats/token; %.0f s, peak RSS %.0f MB%n", method, wbits, abits,
                        g < 0 ? "per-channel" : "g" + g, ppl, kl, m.seconds(), m.peakRssMb());
                o.printf("wrote %s%n", out);
            }
        }
        return 0;
    }

    private static <T> T orElse(T value, T fallback) {
        return value != null ? value : fallback;
    }

    /** The settings and per-layer choices of a QLLM run, for metrics.json. */
    private static ObjectNode qllmDetails(Qllm qllm, QllmConfig cfg) {
        ObjectNode d = new ObjectMapper().createObjectNode();
        d.put("reassembly", cfg.reassembly()).put("error_correction", cfg.errorCorrection()).put("rank", cfg.rank()).put("steps", cfg.steps())
                .put("lr", cfg.lr()).put("calibration_samples", cfg.samples()).put("blocks_per_round", cfg.blocksPerRound());
        ArrayNode layers = d.putArray("expansion_ratio");
        for (double[] sites : qllm.expansionRatios()) {
            ObjectNode l = layers.addObject();
            l.put("qkv", sites[0]).put("gate_up", sites[1]).put("down", sites[2]);
        }
        return d;
    }

    /** Calibration sequences: windows of the training novels, or (without a tokenizer) of text the model samples itself. */
    private int[][] calibration(ModelFiles.Loaded fp, LlamaModel fpModel, int samples) {
        return trainingBatches(fp, fpModel).sequences(samples);
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
