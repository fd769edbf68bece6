package dev.lowbit.cli;

import dev.lowbit.methods.quant.Metrics;
import dev.lowbit.methods.quant.QuantMethod;
import dev.lowbit.methods.quant.QuantizePipeline;
import dev.lowbit.methods.quant.QuantizeRequest;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.IoReason;
import dev.lowbit.runtime.tensor.QuantSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** {@code lowbit quantize}: runs the {@link QuantizePipeline} and prints its figures. */
@Command(
        name = "quantize",
        description = "Quantize every block linear of a model; writes DIR with the model and metrics.json.")
final class QuantizeCommand implements Callable<Integer> {
    /** The library's defaults, shown in --help. */
    private static final QuantizeRequest D =
            QuantizeRequest.builder("default", Path.of(".")).build();

    @Spec
    CommandSpec spec;

    @Mixin
    SharedOptions.ModelOption model;

    @Mixin
    SharedOptions.DataOption data;

    @Mixin
    SharedOptions.SeqLenOption seqLen = new SharedOptions.SeqLenOption(D.seqLen());

    @Mixin
    SharedOptions.JsonOption json;

    @Option(
            names = "--method",
            converter = MethodConverter.class,
            completionCandidates = MethodIds.class,
            description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    QuantMethod method = D.method();

    @Option(names = "--wbits", description = "weight bits: 2, 3, 4, 6 or 8 (default: ${DEFAULT-VALUE})")
    int wbits = D.wbits();

    @Option(
            names = "--abits",
            description =
                    "activation bits: 16 (weights only), or 4, 6 or 8 per token, dynamic, asymmetric "
                            + "(integer kernels for W4/W8 x A4/A8, simulated by fake quantization otherwise; not with dlqat) (default: ${DEFAULT-VALUE})")
    int abits = D.abits();

    @Option(
            names = "--quantize-qkv",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description =
                    "with --abits below 16, also quantize the attention's queries, keys and values per token and head (default: on)")
    boolean quantizeQkv;

    @Option(
            names = "--group",
            description = "group size: 32, 64, 128, 256, or -1 for per-channel "
                    + "(default: 128 for weights only, per-channel with --abits below 16)")
    Integer group;

    @Option(
            names = "--range",
            description = "min-max or MSE-searched ranges: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    QuantSpec.Range range = D.range();

    @Option(names = "--symmetric", description = "symmetric ranges (default: asymmetric)")
    boolean symmetric;

    @Option(
            names = "--out",
            required = true,
            description =
                    "output folder: built beside it, moved into place when complete; locked while a run writes it")
    Path out;

    @Option(
            names = "--eval-windows",
            description =
                    "held-out windows for perplexity; 0 skips evaluation (perplexity and KL) (default: ${DEFAULT-VALUE})")
    int evalWindows = D.evalWindows();

    @Option(
            names = "--steps",
            description = "training steps: DL-QAT's, or QLLM's per round of blocks (default: " + "dlqat 200, qllm 200)")
    Integer steps;

    @Option(names = "--rank", description = "LoRA rank (default: dlqat 8, qllm 4)")
    Integer rank;

    @Option(names = "--lr", description = "learning rate of the LoRA factors (default: dlqat 2e-3, qllm 5e-3)")
    Float lr;

    @Option(names = "--batch", description = "sequences per training step (default: ${DEFAULT-VALUE})")
    int batch = D.batch();

    @Option(
            names = "--lr-magnitude",
            description = "DL-QAT learning rate of the magnitudes (default: ${DEFAULT-VALUE})")
    float lrMagnitude = D.lrMagnitude();

    @Option(
            names = "--kl-weight",
            description = "DL-QAT weight of the KL to the full-precision model's next-token distribution "
                    + "added to the next-token loss; 0 turns it off (default: ${DEFAULT-VALUE})")
    float klWeight = D.klWeight();

    @Option(
            names = "--checkpoint-every",
            description = "DL-QAT steps between resumable checkpoints in DIR " + "(default: ${DEFAULT-VALUE})")
    int checkpointEvery = D.checkpointEvery();

    @Option(
            names = "--stop-after",
            hidden = true,
            description =
                    "stop DL-QAT after this step, QLLM after the round that finishes this many blocks, or GPTQ / AWQ after "
                            + "this many blocks, leaving a checkpoint to resume from")
    int stopAfter = D.stopAfter();

    @Option(
            names = "--calib-samples",
            description = "qllm / smoothquant / gptq / awq calibration sequences from the training text "
                    + "(default: ${DEFAULT-VALUE})")
    int calibSamples = D.calibSamples();

    @Option(names = "--alpha", description = "smoothquant migration strength (default: ${DEFAULT-VALUE})")
    float alpha = D.alpha();

    @Option(
            names = "--reassembly",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "qllm channel disassembly/assembly with the per-layer threshold search (default: on)")
    boolean reassembly;

    @Option(
            names = "--error-correction",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "qllm low-rank error correction, trained block-wise and merged (default: on)")
    boolean errorCorrection;

    @Option(
            names = "--train-norms",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "qllm error correction also trains the blocks' RMSNorm weights (default: on)")
    boolean trainNorms;

    @Option(
            names = "--blocks-per-round",
            description = "qllm blocks trained together per error-correction round " + "(default: ${DEFAULT-VALUE})")
    int blocksPerRound = D.blocksPerRound();

    @Option(
            names = "--search-tokens",
            description =
                    "qllm calibration tokens for the reassembly threshold search " + "(default: ${DEFAULT-VALUE})")
    int searchTokens = D.searchTokens();

    @Option(names = "--seed", description = "training / calibration seed (default: ${DEFAULT-VALUE})")
    long seed = D.seed();

    @Option(
            names = "--gptq",
            description = "also write a GPTQ-format copy (4-bit only) into DIR/gptq for the Python stack")
    boolean gptq;

    @Option(
            names = "--damp",
            description = "gptq dampening added to the Hessian's diagonal, as a fraction of its mean "
                    + "(default: ${DEFAULT-VALUE})")
    double damp = D.damp();

    @Option(
            names = "--act-order",
            description = "gptq: quantize columns by decreasing Hessian diagonal (desc_act; the column "
                    + "order is stored with the model and as g_idx in the GPTQ export)")
    boolean actOrder;

    @Option(
            names = "--init",
            converter = MethodConverter.class,
            description = "dlqat's starting codes, scales and zeros, and smoothquant's weight quantizer after "
                    + "smoothing: rtn (min-max) or gptq (calibrated with --calib-samples, --damp); dlqat also awq "
                    + "(AWQ's scales folded into the frozen weights, its clipping with --awq-clip) (default: rtn)")
    QuantMethod init = D.init();

    @Option(
            names = "--awq-clip",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "awq clipping search per output row and group after the scales (default: on)")
    boolean awqClip;

    @Option(names = "--force", description = "replace a finished model already in --out (default: refuse it)")
    boolean force;

    @Option(
            names = "--head-bits",
            description = "quantize the output head (lm_head) to 8 or 4 bits, weight-only, with the weights' group"
                    + " size (rtn); 16 keeps the checkpoint's dtype (default: ${DEFAULT-VALUE})")
    int headBits = 16;

    @Override
    public Integer call() {
        Optional<QuantizePipeline.Result> result;
        checkOptions();
        try {
            result = new QuantizePipeline(request(), System.err).run();
        } catch (QuantizeRequest.Invalid e) {
            throw new LowbitException(inFlags(e), e.getCause());
        }
        if (result.isEmpty()) return 0; // stopped early: the checkpoint in --out resumes it
        PrintWriter o = spec.commandLine().getOut();
        if (json.get()) {
            o.println(result.get().json());
        } else {
            Metrics m = result.get().metrics();
            String quality = Double.isNaN(m.klToFp())
                    ? "not evaluated"
                    : (Double.isNaN(m.quantPerplexity())
                                    ? "no perplexity (no tokenizer)"
                                    : String.format("perplexity %.3f (fp %.3f)", m.quantPerplexity(), m.fpPerplexity()))
                            + String.format(", KL to fp %.5f nats/token", m.klToFp());
            o.printf(
                    "%s W%dA%d %s: %s; %.0f s, peak RSS %.0f MB (anonymous %.0f MB)%n",
                    m.method(),
                    m.wbits(),
                    m.abits(),
                    m.group() < 0 ? "per-channel" : "g" + m.group(),
                    quality,
                    m.seconds(),
                    m.peakRssMb(),
                    m.peakAnonMb());
            o.printf("wrote %s%n", out);
        }
        return 0;
    }

    /** The numeric options' ranges, in the options' names, before the pipeline starts. */
    private void checkOptions() {
        OptionChecks.within("--seq-len", seqLen.get(), 2, 1 << 16);
        OptionChecks.atLeast("--eval-windows", evalWindows, 0); // 0 skips evaluation
        if (steps != null) OptionChecks.atLeast("--steps", steps, 1);
        if (rank != null) OptionChecks.within("--rank", rank, 1, 4096);
        if (lr != null) OptionChecks.within("--lr", lr, 0, true, 10);
        OptionChecks.atLeast("--batch", batch, 1);
        OptionChecks.within("--lr-magnitude", lrMagnitude, 0, false, 1);
        OptionChecks.above("--kl-weight", klWeight, 0, false);
        OptionChecks.atLeast("--checkpoint-every", checkpointEvery, 1);
        OptionChecks.atLeast("--stop-after", stopAfter, 1);
        OptionChecks.atLeast("--calib-samples", calibSamples, 1);
        OptionChecks.within("--alpha", alpha, 0, false, 1);
        OptionChecks.atLeast("--blocks-per-round", blocksPerRound, 1);
        OptionChecks.atLeast("--search-tokens", searchTokens, 1);
    }

    private QuantizeRequest request() {
        return QuantizeRequest.builder(model.get(), out)
                .method(method)
                .wbits(wbits)
                .abits(abits)
                .quantizeQkv(quantizeQkv)
                .group(group)
                .range(range)
                .symmetric(symmetric)
                .data(data.get())
                .projectRoot(ProjectHome.get())
                .seqLen(seqLen.get())
                .evalWindows(evalWindows)
                .steps(steps)
                .rank(rank)
                .lr(lr)
                .batch(batch)
                .lrMagnitude(lrMagnitude)
                .klWeight(klWeight)
                .checkpointEvery(checkpointEvery)
                .stopAfter(stopAfter)
                .calibSamples(calibSamples)
                .alpha(alpha)
                .reassembly(reassembly)
                .errorCorrection(errorCorrection)
                .trainNorms(trainNorms)
                .blocksPerRound(blocksPerRound)
                .searchTokens(searchTokens)
                .seed(seed)
                .gptq(gptq)
                .force(force)
                .headBits(headBits)
                .damp(damp)
                .actOrder(actOrder)
                .awqClip(awqClip)
                .init(init)
                .build();
    }

    /** The pipeline's refusal in terms of this command's options. */
    private String inFlags(QuantizeRequest.Invalid e) {
        return switch (e.rule()) {
            case GPTQ_BITS -> "--gptq exports 4-bit models only; use --wbits 4";
            case ACTIVATION_BITS -> "--abits " + abits + " is not supported: use 16, 8, 6 or 4";
            case DLQAT_ACTIVATIONS -> "DL-QAT keeps activations at 16 bits; drop --abits or use --method qllm";
            case NEEDS_ACTIVATIONS -> "--method " + method + " quantizes activations; give --abits 4, 6 or 8";
            case GPTQ_ACTIVATIONS -> "the GPTQ format has no activation quantization; drop --gptq or --abits";
            case MINMAX_RANGES -> method + " uses asymmetric min-max ranges; drop --symmetric and --range";
            case UNWRITABLE_OUT ->
                "cannot write to --out " + out + ": "
                        + (e.getCause() instanceof IOException io
                                ? IoReason.of(io, out)
                                : e.getCause().getMessage());
            case HEAD_BITS -> e.getMessage(); // already in this command's terms
        };
    }

    static final class MethodConverter implements ITypeConverter<QuantMethod> {
        @Override
        public QuantMethod convert(String id) {
            if (!QuantMethod.ids().contains(id))
                throw new TypeConversionException("expected one of " + QuantMethod.ids() + " but was '" + id + "'");
            return QuantMethod.of(id);
        }
    }

    static final class MethodIds implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return QuantMethod.ids().iterator();
        }
    }
}
