package dev.lowbit.methods.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.methods.TokenWindows;
import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.ModelSamples;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.quant.QuantizeRequest.Invalid;
import dev.lowbit.methods.quant.QuantizeRequest.Rule;
import dev.lowbit.methods.quant.awq.Awq;
import dev.lowbit.methods.quant.dlqat.DlQat;
import dev.lowbit.methods.quant.dlqat.DlQatConfig;
import dev.lowbit.methods.quant.dlqat.GptqStart;
import dev.lowbit.methods.quant.gptq.Gptq;
import dev.lowbit.methods.quant.qllm.Qllm;
import dev.lowbit.methods.quant.qllm.QllmConfig;
import dev.lowbit.methods.quant.rtn.Rtn;
import dev.lowbit.methods.quant.smoothquant.SmoothQuant;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.GptqExport;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.OutputFolder;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Quantizes a model end to end, as {@code lowbit quantize} does: load the model and check that the
 * request fits it and the output folder is writable; quantize with the request's method; evaluate
 * against the full-precision model (held-out perplexity where there is a tokenizer, KL divergence
 * always); save the model (with tokenizer.json, and the GPTQ copy if asked) and metrics.json into
 * a temporary sibling of the output folder that is moved into place once all are written (see OutputFolder). Progress goes to a PrintStream.
 */
public final class QuantizePipeline {
    /** Where an interrupted DL-QAT run leaves its state; removed once the model is written. */
    public static final String DLQAT_CHECKPOINT = "dlqat-checkpoint.safetensors";

    public static final String QLLM_CHECKPOINT = "qllm-checkpoint.safetensors";

    /** The figures of a finished run; json is what metrics.json holds (metrics plus qkv_bits, activation_kernel, method details). */
    public record Result(Metrics metrics, ObjectNode json) {}

    /** A quantized model and what the method reports about it. */
    private record Quantized(LlamaModel model, double trainableFraction, ObjectNode details) {}

    private record Evaluation(double fpPerplexity, double quantPerplexity, double klToFp) {}

    private final QuantizeRequest request;
    private final PrintStream log;

    public QuantizePipeline(QuantizeRequest request, PrintStream log) {
        this.request = request;
        this.log = log;
    }

    /** Runs every step; empty when the request's stopAfter ended training early, leaving the method's checkpoint in out. */
    public Optional<Result> run() {
        long t0 = System.nanoTime();
        Path input = ModelFiles.pathOf(request.model());
        if (Files.isDirectory(input) && QuantizedCheckpoint.isQuantized(input)) throw alreadyQuantized();
        try (OutputFolder out = openOut(input);
                Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded fp = load(arena);
            logPlan();
            Optional<Quantized> q = quantize(arena, fp);
            if (q.isEmpty()) return Optional.empty();
            Evaluation e = evaluate(fp, q.get().model());
            save(fp, q.get().model(), out.staging());
            Metrics m = new Metrics(
                    request.method().id(),
                    request.wbits(),
                    request.abits(),
                    request.group(),
                    e.fpPerplexity(),
                    e.quantPerplexity(),
                    e.klToFp(),
                    q.get().trainableFraction(),
                    (System.nanoTime() - t0) / 1e9,
                    Metrics.currentPeakRssMb());
            ObjectNode json = m.toJson();
            json.put("qkv_bits", request.qkvBits()).put("activation_kernel", request.activationKernel());
            if (q.get().details() != null)
                json.set(request.method().id(), q.get().details());
            Metrics.write(out.staging().resolve("metrics.json"), json);
            out.commit(); // replaces out, and with it the method's checkpoint
            return Optional.of(new Result(m, json));
        }
    }

    /** Checks and locks the output folder (see OutputFolder) before any work. */
    private OutputFolder openOut(Path input) {
        try {
            return OutputFolder.open(request.out(), input, request.force(), Set.of(DLQAT_CHECKPOINT, QLLM_CHECKPOINT));
        } catch (UncheckedIOException | SecurityException e) {
            Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
            throw new Invalid(
                    Rule.UNWRITABLE_OUT, "cannot write to " + request.out() + ": " + cause.getMessage(), cause);
        }
    }

    /** Opens the model and checks that it is full precision and that the group size divides every linear's inputs. */
    private ModelFiles.Loaded load(Arena arena) {
        ModelFiles.Loaded fp = ModelFiles.open(request.model(), arena);
        QuantSpec spec = request.weightSpec();
        for (int l = 0; l < fp.model().config().layers(); l++)
            for (Linear linear : fp.model().linears(l).toList()) {
                if (!(linear instanceof Linear.Dense)) throw alreadyQuantized();
                spec.groupSizeFor(linear.inFeatures());
            }
        return fp;
    }

    private LowbitException alreadyQuantized() {
        return new LowbitException(request.model() + " is already quantized; quantize its full-precision original");
    }

    private void logPlan() {
        QuantizeRequest r = request;
        String activations = r.abits() == 16
                ? ""
                : "; activations " + r.abits() + "-bit per token"
                        + (r.qkvBits() < 16 ? " (and q/k/v per head)" : "")
                        + (r.integerKernel()
                                ? ", integer kernels"
                                : ", simulated (fake-quantized: no integer kernel for W" + r.wbits() + "A" + r.abits()
                                        + ")");
        log.printf(
                "quantizing %s with %s: %d-bit weights, group %s, %s%s ranges%s%n",
                r.model(),
                r.method(),
                r.wbits(),
                r.group() < 0 ? "per-channel" : r.group(),
                r.symmetric() ? "symmetric " : "",
                r.range().name().toLowerCase(),
                activations);
    }

    /** The quantized model; empty when training stopped early at the request's stopAfter. */
    private Optional<Quantized> quantize(Arena arena, ModelFiles.Loaded fp) {
        QuantizeRequest r = request;
        return switch (r.method()) {
            case RTN ->
                Optional.of(new Quantized(
                        Rtn.quantize(arena, fp.weights(), r.weightSpec(), r.abits(), r.qkvBits()), 0, null));
            case SMOOTHQUANT ->
                Optional.of(new Quantized(
                        SmoothQuant.quantize(
                                arena,
                                fp.weights(),
                                calibration(fp),
                                r.alpha(),
                                r.weightSpec(),
                                r.abits(),
                                r.qkvBits()),
                        0,
                        null));
            case QLLM -> {
                QllmConfig cfg = r.qllmConfig();
                Qllm qllm = new Qllm(fp.weights(), cfg, log);
                Path checkpoint = r.out().resolve(QLLM_CHECKPOINT);
                yield qllm.quantize(arena, calibration(fp), checkpoint, r.stopAfter())
                        .map(q -> new Quantized(q, qllm.trainableFraction(), qllmDetails(qllm, cfg)));
            }
            case GPTQ ->
                Optional.of(new Quantized(
                        new Gptq(r.gptqConfig(), r.abits(), log).quantize(arena, fp.weights(), calibration(fp)),
                        0,
                        new ObjectMapper()
                                .createObjectNode()
                                .put("damp", r.damp())
                                .put("act_order", r.actOrder())
                                .put("calibration_samples", r.calibSamples())));
            case AWQ ->
                Optional.of(new Quantized(
                        new Awq(r.awqConfig(), log)
                                .quantize(arena, fp.weights(), calibration(fp), r.abits(), r.qkvBits()),
                        0,
                        new ObjectMapper()
                                .createObjectNode()
                                .put("clip", r.awqClip())
                                .put("duo_scaling", r.awqConfig().duoScaling())
                                .put("grid", r.awqConfig().grid())
                                .put("calibration_samples", r.calibSamples())));
            case DLQAT -> {
                DlQatConfig cfg = r.dlqatConfig();
                Map<String, DlQat.Start> start = r.init() == QuantMethod.GPTQ
                        ? GptqStart.of(arena, fp.weights(), calibration(fp), r.gptqConfig(), log)
                        : Map.of();
                DlQat dl = new DlQat(
                        arena,
                        LlamaParameters.copyOf(arena, fp.weights()),
                        cfg,
                        r.init().id(),
                        start);
                log.printf(
                        "DL-QAT from %s: %d steps of %d x %d tokens, rank %d, KL weight %s, %.3f%% of parameters trainable%n",
                        r.init(),
                        cfg.steps(),
                        cfg.batch(),
                        cfg.seqLen(),
                        cfg.rank(),
                        cfg.klWeight(),
                        100 * dl.trainableFraction());
                Path checkpoint = r.out().resolve(DLQAT_CHECKPOINT);
                if (!dl.train(trainingBatches(fp), log, checkpoint, r.stopAfter())) yield Optional.empty();
                yield Optional.of(new Quantized(dl.export(arena), dl.trainableFraction(), null));
            }
        };
    }

    /** Held-out perplexity of both models (with a tokenizer) and the KL of the quantized to the full-precision one. */
    private Evaluation evaluate(ModelFiles.Loaded fp, LlamaModel q) {
        List<int[]> windows;
        double fpPpl = Double.NaN, qPpl = Double.NaN;
        int seqLen = request.seqLen();
        if (fp.tokenizer().isPresent()) {
            int[] tokens = fp.tokenizer().get().encode(Corpus.read(dataDir().resolve(Corpus.HELD_OUT)));
            log.println("evaluating on held-out " + Corpus.HELD_OUT + " ...");
            fpPpl = Perplexity.evaluate(fp.model(), tokens, seqLen, request.evalWindows())
                    .perplexity();
            qPpl = Perplexity.evaluate(q, tokens, seqLen, request.evalWindows()).perplexity();
            windows = new ArrayList<>();
            for (int w = 0; w < 32 && (w + 1) * seqLen <= tokens.length; w++)
                windows.add(Arrays.copyOfRange(tokens, w * seqLen, (w + 1) * seqLen));
        } else {
            windows = ModelSamples.fromBos(fp.model(), 16, seqLen);
        }
        return new Evaluation(
                fpPpl, qPpl, KlDivergence.evaluate(fp.model(), q, windows).meanKl());
    }

    private void save(ModelFiles.Loaded fp, LlamaModel q, Path out) {
        QuantizedCheckpoint.save(
                q, out, Map.of("lowbit.method", request.method().id(), "lowbit.source", request.model()));
        if (fp.tokenizer().isPresent()) TokenizerJson.save(fp.tokenizer().get(), out.resolve("tokenizer.json"));
        if (request.gptq()) {
            GptqExport.save(q, out.resolve("gptq"));
            if (fp.tokenizer().isPresent())
                TokenizerJson.save(fp.tokenizer().get(), out.resolve("gptq").resolve("tokenizer.json"));
        }
    }

    /** The settings and per-layer choices of a QLLM run, for metrics.json. */
    private static ObjectNode qllmDetails(Qllm qllm, QllmConfig cfg) {
        ObjectNode d = new ObjectMapper().createObjectNode();
        d.put("reassembly", cfg.reassembly())
                .put("error_correction", cfg.errorCorrection())
                .put("rank", cfg.rank())
                .put("steps", cfg.steps())
                .put("lr", cfg.lr())
                .put("calibration_samples", cfg.samples())
                .put("blocks_per_round", cfg.blocksPerRound());
        ArrayNode layers = d.putArray("expansion_ratio");
        for (double[] sites : qllm.expansionRatios()) {
            ObjectNode l = layers.addObject();
            l.put("qkv", sites[0]).put("gate_up", sites[1]).put("down", sites[2]);
        }
        return d;
    }

    private Path dataDir() {
        return Corpus.locate(request.data().orElse(null), request.projectRoot());
    }

    /** Calibration sequences: windows of the training novels, or (without a tokenizer) of text the model samples itself. */
    private int[][] calibration(ModelFiles.Loaded fp) {
        return trainingBatches(fp).sequences(request.calibSamples());
    }

    /** Windows of the training novels, or (for a model without a tokenizer) of text the model samples itself. */
    private TokenWindows trainingBatches(ModelFiles.Loaded fp) {
        int seqLen = request.seqLen();
        int[] tokens;
        if (fp.tokenizer().isPresent()) {
            tokens = fp.tokenizer().get().encode(Corpus.trainingText(dataDir()));
        } else {
            List<int[]> samples = ModelSamples.fromBos(fp.model(), 64, seqLen + 1, 50_000);
            tokens = samples.stream().flatMapToInt(Arrays::stream).toArray();
        }
        return new TokenWindows(tokens, seqLen, request.seed());
    }
}
