package dev.lowbit.methods.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.management.OperatingSystemMXBean;
import dev.lowbit.methods.Progress;
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
import dev.lowbit.runtime.ProcessMemory;
import dev.lowbit.runtime.io.GptqExport;
import dev.lowbit.runtime.io.IoReason;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.OutputFolder;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.io.QuantizedCheckpointWriter;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

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
    /** Where an interrupted GPTQ run leaves its finished blocks and next inputs; removed once the model is written. */
    public static final String GPTQ_CHECKPOINT = "gptq-checkpoint.safetensors";
    /** Where an interrupted AWQ run leaves its finished (scaled, clipped) blocks and next inputs; removed once written. */
    public static final String AWQ_CHECKPOINT = "awq-checkpoint.safetensors";

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
            ProcessMemory.start();
            QuantMethod method = request.method();
            boolean written = method == QuantMethod.RTN // by a streaming writer
                    || method == QuantMethod.SMOOTHQUANT && request.init() == QuantMethod.RTN;
            Optional<Quantized> q;
            Optional<BpeTokenizer> tokenizer;
            Supplier<LlamaModel> fpModel;
            if (written || method == QuantMethod.QLLM) { // block by block from the weights as stored
                ModelFiles.Stored src = ModelFiles.openStored(request.model(), arena);
                checkGroups(src.weights());
                logPlan();
                // the full-precision model is built only if evaluation (or sampling calibration text) needs it
                LlamaModel[] built = {null};
                fpModel = () ->
                        built[0] != null ? built[0] : (built[0] = load(arena).model());
                tokenizer = src.tokenizer();
                q = streamed(arena, src, out.staging(), fpModel);
            } else {
                ModelFiles.Loaded fp = load(arena);
                logPlan();
                q = quantize(arena, fp);
                tokenizer = fp.tokenizer();
                fpModel = fp::model;
            }
            if (q.isEmpty()) { // no metrics.json: the memory figures go to the log
                log.printf(
                        "peak anonymous memory %.0f MB, peak RSS %.0f MB%n",
                        ProcessMemory.peakAnonMb(), ProcessMemory.peakRssMb());
                return Optional.empty();
            }
            Evaluation e = evaluate(fpModel, tokenizer, q.get().model());
            save(tokenizer, q.get().model(), out.staging(), !written);
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
                    ProcessMemory.peakRssMb(),
                    ProcessMemory.peakAnonMb());
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
            return OutputFolder.open(
                    request.out(),
                    input,
                    request.force(),
                    Set.of(DLQAT_CHECKPOINT, QLLM_CHECKPOINT, GPTQ_CHECKPOINT, AWQ_CHECKPOINT));
        } catch (UncheckedIOException | SecurityException e) {
            Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
            throw new Invalid(
                    Rule.UNWRITABLE_OUT,
                    "cannot write to " + request.out() + ": "
                            + (cause instanceof IOException io ? IoReason.of(io, request.out()) : cause.getMessage()),
                    cause);
        }
    }

    /** Opens the model and checks that it is full precision and that the group size divides every linear's inputs. */
    private ModelFiles.Loaded load(Arena arena) {
        ModelFiles.Loaded fp = ModelFiles.open(request.model(), arena);
        for (int l = 0; l < fp.model().config().layers(); l++)
            for (Linear linear : fp.model().linears(l).toList())
                if (!(linear instanceof Linear.Dense)) throw alreadyQuantized();
        checkGroups(fp.weights());
        return fp;
    }

    /** The group size divides every linear's inputs. */
    private void checkGroups(LlamaWeights weights) {
        QuantSpec spec = request.weightSpec();
        for (LlamaWeights.Layer layer : weights.layers())
            for (Tensor w : layer.linears().toList()) spec.groupSizeFor(w.dim(1));
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

    /**
     * The methods that read the stored checkpoint block by block: RTN and SmoothQuant write the
     * quantized model into out as they go (mapped back from there for evaluation); QLLM keeps the
     * quantized blocks in memory (empty when it stopped early at the request's stopAfter).
     */
    private Optional<Quantized> streamed(Arena arena, ModelFiles.Stored src, Path out, Supplier<LlamaModel> fpModel) {
        QuantizeRequest r = request;
        LlamaWeights w = src.weights();
        if (r.method() == QuantMethod.QLLM) {
            QllmConfig cfg = r.qllmConfig();
            Qllm qllm = new Qllm(w, src.hfRotaryOrder(), cfg, log);
            Path checkpoint = r.out().resolve(QLLM_CHECKPOINT);
            return qllm.quantize(arena, calibration(src.tokenizer(), fpModel), checkpoint, r.stopAfter())
                    .map(q -> new Quantized(q, qllm.trainableFraction(), qllmDetails(qllm, cfg)));
        }
        Progress progress = new Progress(log, "quantize", w.config().layers(), 0);
        IntConsumer blockDone = block ->
                progress.step(block, String.format("block %d, anon %.0f MB", block - 1, ProcessMemory.peakAnonMb()), 0);
        long shard = QuantizedCheckpointWriter.DEFAULT_SHARD_BYTES;
        switch (r.method()) {
            case RTN ->
                Rtn.write(
                        w,
                        src.hfRotaryOrder(),
                        r.weightSpec(),
                        r.abits(),
                        r.qkvBits(),
                        r.headSpec().orElse(null),
                        out,
                        metadata(),
                        shard,
                        blockDone);
            case SMOOTHQUANT ->
                SmoothQuant.write(
                        w,
                        src.hfRotaryOrder(),
                        calibration(src.tokenizer(), fpModel),
                        r.alpha(),
                        r.weightSpec(),
                        r.abits(),
                        r.qkvBits(),
                        out,
                        metadata(),
                        shard,
                        blockDone);
            default -> throw new IllegalStateException(r.method() + " does not stream");
        }
        progress.done();
        return Optional.of(new Quantized(
                QuantizedCheckpoint.load(out, arena),
                0,
                r.method() == QuantMethod.SMOOTHQUANT ? smoothQuantDetails() : null));
    }

    /** metrics.json's smoothquant object: the migration strength and what quantized the smoothed weights. */
    private ObjectNode smoothQuantDetails() {
        return new ObjectMapper()
                .createObjectNode()
                .put("alpha", request.alpha())
                .put("weight_quantizer", request.init().id());
    }

    private Map<String, String> metadata() {
        return Map.of("lowbit.method", request.method().id(), "lowbit.source", request.model());
    }

    /** The quantized model; empty when training stopped early at the request's stopAfter. */
    private Optional<Quantized> quantize(Arena arena, ModelFiles.Loaded fp) {
        QuantizeRequest r = request;
        return switch (r.method()) {
            case RTN, QLLM -> throw new IllegalStateException(r.method() + " streams");
            case SMOOTHQUANT -> { // GPTQ weights under the smoothing; SmoothQuant with RTN weights streams
                int[][] calibration = calibration(fp);
                LlamaWeights smoothed = SmoothQuant.smooth(arena, f32(arena, fp), calibration, r.alpha())
                        .weights();
                yield Optional.of(new Quantized(
                        new Gptq(r.gptqConfig(), r.abits(), log).quantize(arena, smoothed, calibration, r.qkvBits()),
                        0,
                        smoothQuantDetails()));
            }
            case GPTQ ->
                new Gptq(r.gptqConfig(), r.abits(), log)
                        .quantize(
                                arena,
                                f32(arena, fp),
                                calibration(fp),
                                r.qkvBits(),
                                r.out().resolve(GPTQ_CHECKPOINT),
                                r.stopAfter())
                        .map(q -> new Quantized(
                                q,
                                0,
                                new ObjectMapper()
                                        .createObjectNode()
                                        .put("damp", r.damp())
                                        .put("act_order", r.actOrder())
                                        .put("calibration_samples", r.calibSamples())));
            case AWQ ->
                new Awq(r.awqConfig(), log)
                        .quantize(
                                arena,
                                f32(arena, fp),
                                calibration(fp),
                                r.abits(),
                                r.qkvBits(),
                                r.out().resolve(AWQ_CHECKPOINT),
                                r.stopAfter())
                        .map(q -> new Quantized(
                                q,
                                0,
                                new ObjectMapper()
                                        .createObjectNode()
                                        .put("clip", r.awqClip())
                                        .put("duo_scaling", r.awqConfig().duoScaling())
                                        .put("grid", r.awqConfig().grid())
                                        .put("calibration_samples", r.calibSamples())));
            case DLQAT -> {
                DlQatConfig cfg = r.dlqatConfig();
                boolean awq = r.init() == QuantMethod.AWQ;
                // the frozen base and the effective weights; from AWQ also the unscaled, unclipped teacher
                checkFp32Fits(fp.weights(), awq ? 3 : 2);
                LlamaParameters original = LlamaParameters.copyOf(arena, fp.weights());
                Map<String, DlQat.Start> start = r.init() == QuantMethod.GPTQ
                        ? GptqStart.of(arena, f32(arena, fp), calibration(fp), r.gptqConfig(), log)
                        : Map.of();
                // from AWQ: its scales folded and its clipping applied, so min-max RTN of the base is AWQ's grid
                LlamaParameters base = awq
                        ? new Awq(r.awqConfig(), log).transform(arena, original.weights(), calibration(fp))
                        : original;
                DlQat dl = new DlQat(arena, base, original, cfg, r.init().id(), start);
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
                if (!dl.train(trainingBatches(fp.tokenizer(), fp::model), log, checkpoint, r.stopAfter()))
                    yield Optional.empty();
                ObjectNode details = new ObjectMapper()
                        .createObjectNode()
                        .put("init", r.init().id());
                if (r.init() != QuantMethod.RTN) details.put("calibration_samples", r.calibSamples());
                if (awq) details.put("awq_clip", r.awqClip());
                yield Optional.of(new Quantized(dl.export(arena), dl.trainableFraction(), details));
            }
        };
    }

    /** The model's weights as one writable fp32 buffer, for the methods that train or transform them whole. */
    private LlamaWeights f32(Arena arena, ModelFiles.Loaded fp) {
        checkFp32Fits(fp.weights(), 1);
        return LlamaParameters.copyOf(arena, fp.weights()).weights();
    }

    /**
     * Refuses, before allocating, a method that holds fp32 copies of the whole model when they
     * exceed the machine's memory (GPTQ, AWQ and DL-QAT are not streamed block by block yet).
     */
    private void checkFp32Fits(LlamaWeights w, int copies) {
        long params = 0;
        for (LlamaParameters.Slot s : LlamaParameters.layout(w.config())) params += s.numel();
        long need = 4L * params * copies;
        long total = ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
        if (need > total * 0.8)
            throw new LowbitException(String.format(
                    "%s holds %d fp32 cop%s of the model (%.1f GB) but this machine has %.1f GB of memory; RTN,"
                            + " SmoothQuant and QLLM stream block by block: use one of them here, or a machine with more"
                            + " memory",
                    request.method(), copies, copies == 1 ? "y" : "ies", need / 1e9, total / 1e9));
    }

    /** Held-out perplexity of both models (with a tokenizer) and the KL of the quantized to the full-precision one. */
    private Evaluation evaluate(Supplier<LlamaModel> fpModel, Optional<BpeTokenizer> tokenizer, LlamaModel q) {
        if (request.evalWindows() == 0) {
            log.println("evaluation skipped (--eval-windows 0)");
            return new Evaluation(Double.NaN, Double.NaN, Double.NaN);
        }
        LlamaModel fp = fpModel.get();
        List<int[]> windows;
        double fpPpl = Double.NaN, qPpl = Double.NaN;
        int seqLen = request.seqLen();
        if (tokenizer.isPresent()) {
            int[] tokens = tokenizer.get().encode(Corpus.read(dataDir().resolve(Corpus.HELD_OUT)));
            int n = Perplexity.windows(tokens, seqLen, request.evalWindows());
            log.printf(
                    "evaluating on held-out %s: %d windows of %d tokens through each model, then KL on up to 32"
                            + " (the ETA shows after the first window)%n",
                    Corpus.HELD_OUT, n, seqLen);
            fpPpl = Perplexity.evaluate(fp, tokens, seqLen, request.evalWindows(), Progress.windows(log, "eval fp", n))
                    .perplexity();
            qPpl = Perplexity.evaluate(
                            q, tokens, seqLen, request.evalWindows(), Progress.windows(log, "eval quantized", n))
                    .perplexity();
            windows = new ArrayList<>();
            for (int w = 0; w < 32 && (w + 1) * seqLen <= tokens.length; w++)
                windows.add(Arrays.copyOfRange(tokens, w * seqLen, (w + 1) * seqLen));
        } else {
            windows = ModelSamples.fromBos(fp, 16, seqLen);
        }
        double kl = KlDivergence.evaluate(fp, q, windows, Progress.windows(log, "eval KL", windows.size()))
                .meanKl();
        return new Evaluation(fpPpl, qPpl, kl);
    }

    /** The model (unless a streaming method wrote it already), its tokenizer and the GPTQ copy if asked. */
    private void save(Optional<BpeTokenizer> tokenizer, LlamaModel q, Path out, boolean writeModel) {
        if (writeModel) QuantizedCheckpoint.save(q, out, metadata());
        if (tokenizer.isPresent()) TokenizerJson.save(tokenizer.get(), out.resolve("tokenizer.json"));
        if (request.gptq()) {
            GptqExport.save(q, out.resolve("gptq"));
            if (tokenizer.isPresent())
                TokenizerJson.save(tokenizer.get(), out.resolve("gptq").resolve("tokenizer.json"));
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
        double[] seconds = qllm.phaseSeconds(); // of the rounds this run did (not those a resumed run restored)
        d.putObject("phase_seconds")
                .put("search", seconds[0])
                .put("error_correction", seconds[1])
                .put("other", seconds[2]);
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
        return calibration(fp.tokenizer(), fp::model);
    }

    private int[][] calibration(Optional<BpeTokenizer> tokenizer, Supplier<LlamaModel> fp) {
        return trainingBatches(tokenizer, fp).sequences(request.calibSamples());
    }

    /** Windows of the training novels, or (for a model without a tokenizer) of text the model fp samples itself. */
    private TokenWindows trainingBatches(Optional<BpeTokenizer> tokenizer, Supplier<LlamaModel> fp) {
        int seqLen = request.seqLen();
        int[] tokens;
        if (tokenizer.isPresent()) {
            tokens = tokenizer.get().encode(Corpus.trainingText(dataDir()));
        } else {
            List<int[]> samples = ModelSamples.fromBos(fp.get(), 64, seqLen + 1, 50_000);
            tokens = samples.stream().flatMapToInt(Arrays::stream).toArray();
        }
        return new TokenWindows(tokens, seqLen, request.seed());
    }
}
