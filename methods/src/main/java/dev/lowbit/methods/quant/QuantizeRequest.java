package dev.lowbit.methods.quant;

import dev.lowbit.methods.quant.awq.AwqConfig;
import dev.lowbit.methods.quant.dlqat.DlQatConfig;
import dev.lowbit.methods.quant.gptq.GptqConfig;
import dev.lowbit.methods.quant.qllm.QllmConfig;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What a {@link QuantizePipeline} does: quantize model ("default", a Hugging Face folder or a
 * llama2.c .bin) with method to wbits-bit weights in groups of group (-1: per channel) and, below
 * 16, abits-bit activations per token (with quantizeQkv also the attention's q/k/v per head), and
 * write the result to out. The novels for calibration, training and held-out perplexity come from
 * data (empty: LOWBIT_DATA, then projectRoot/../shared/data). The other settings belong to one
 * method each (see QllmConfig, DlQatConfig and SmoothQuant); stopAfter ends DL-QAT after that step,
 * or QLLM after the round that finishes that many blocks, leaving a checkpoint in out to resume from.
 *
 * <p>Build one with {@link #builder(String, Path)}; the constructor checks the combination and
 * throws {@link Invalid} before anything is loaded or written.
 */
public record QuantizeRequest(
        String model,
        Path out,
        QuantMethod method,
        int wbits,
        int abits,
        boolean quantizeQkv,
        int group,
        QuantSpec.Range range,
        boolean symmetric,
        Optional<Path> data,
        Path projectRoot,
        int seqLen,
        int evalWindows,
        int steps,
        int rank,
        float lr,
        int batch,
        float lrMagnitude,
        float klWeight,
        int checkpointEvery,
        int stopAfter,
        int calibSamples,
        float alpha,
        boolean reassembly,
        boolean errorCorrection,
        boolean trainNorms,
        int blocksPerRound,
        int searchTokens,
        long seed,
        boolean gptq,
        boolean force,
        int headBits,
        double damp,
        boolean actOrder,
        boolean awqClip,
        QuantMethod init) {
    /** The group size when none is given: 128 for weights only, per-channel with quantized activations. */
    public static int defaultGroup(int abits) {
        return abits < 16 ? QuantSpec.PER_CHANNEL : 128;
    }

    /** A combination of settings the pipeline refuses; {@link Invalid#rule()} says which, so a front end can word it its way. */
    public enum Rule {
        GPTQ_BITS,
        ACTIVATION_BITS,
        DLQAT_ACTIVATIONS,
        NEEDS_ACTIVATIONS,
        GPTQ_ACTIVATIONS,
        MINMAX_RANGES,
        UNWRITABLE_OUT,
        HEAD_BITS
    }

    /** A request the pipeline refuses, by the rule it breaks. */
    public static final class Invalid extends LowbitException {
        private final Rule rule;

        Invalid(Rule rule, String message) {
            super(message);
            this.rule = rule;
        }

        Invalid(Rule rule, String message, Throwable cause) {
            super(message, cause);
            this.rule = rule;
        }

        public Rule rule() {
            return rule;
        }
    }

    public QuantizeRequest {
        if (headBits != 4 && headBits != 8 && headBits != 16)
            throw new Invalid(
                    Rule.HEAD_BITS, headBits + "-bit output heads are not supported: use 4, 8 or 16 (as stored)");
        if (headBits != 16 && method != QuantMethod.RTN)
            throw new Invalid(
                    Rule.HEAD_BITS, "--head-bits works with --method rtn so far; leave it at 16 for " + method.id());
        if (headBits != 16 && gptq)
            throw new Invalid(Rule.HEAD_BITS, "the GPTQ export keeps the output head dense; leave --head-bits at 16");
        new QuantSpec(
                wbits, group, symmetric, range, DType.F32); // bad bits or group fail here (the fields are not set yet)
        if (gptq && wbits != 4)
            throw new Invalid(Rule.GPTQ_BITS, "the GPTQ format holds 4-bit weights only; quantize to 4 bits");
        if (abits != 16 && abits != 8 && abits != 6 && abits != 4)
            throw new Invalid(Rule.ACTIVATION_BITS, abits + "-bit activations are not supported: use 16, 8, 6 or 4");
        if (abits != 16 && method == QuantMethod.DLQAT)
            throw new Invalid(
                    Rule.DLQAT_ACTIVATIONS,
                    "DL-QAT keeps activations at 16 bits; keep them at 16 or quantize with QLLM");
        if (abits == 16 && (method == QuantMethod.QLLM || method == QuantMethod.SMOOTHQUANT))
            throw new Invalid(
                    Rule.NEEDS_ACTIVATIONS, method + " quantizes activations; choose 4, 6 or 8 activation bits");
        if (abits != 16 && gptq)
            throw new Invalid(
                    Rule.GPTQ_ACTIVATIONS,
                    "the GPTQ format has no activation quantization; "
                            + "write no GPTQ copy or keep activations at 16 bits");
        boolean symmetricAllowed = method == QuantMethod.GPTQ || method == QuantMethod.AWQ;
        if (method != QuantMethod.RTN && (symmetric && !symmetricAllowed || range != QuantSpec.Range.MINMAX))
            throw new Invalid(
                    Rule.MINMAX_RANGES,
                    method + " uses asymmetric min-max ranges; " + "ask for neither symmetric nor searched ranges");
        if (init != QuantMethod.RTN && init != QuantMethod.GPTQ && init != QuantMethod.AWQ)
            throw new LowbitException("--init is rtn, gptq or awq; " + init.id() + " is no starting point");
        if (init != QuantMethod.RTN && method != QuantMethod.DLQAT && method != QuantMethod.SMOOTHQUANT)
            throw new LowbitException("DL-QAT and SmoothQuant start from rtn or gptq (DL-QAT also awq) (--init);"
                    + " other methods take no starting point: leave out --init");
        if (init == QuantMethod.AWQ && method == QuantMethod.SMOOTHQUANT)
            throw new LowbitException("SmoothQuant's weights start from rtn or gptq: AWQ would rescale the channels"
                    + " SmoothQuant has just smoothed; use --init gptq, or --method awq for weights only");
        if (init == QuantMethod.AWQ && actOrder)
            throw new LowbitException("--act-order is GPTQ's; DL-QAT from AWQ keeps its columns in order: drop it");
        if (method == QuantMethod.GPTQ || init == QuantMethod.GPTQ)
            new GptqConfig(new QuantSpec(wbits, group, symmetric, range, DType.F32), damp, actOrder);
    }

    public static Builder builder(String model, Path out) {
        return new Builder(model, out);
    }

    public QuantSpec weightSpec() {
        return new QuantSpec(wbits, group, symmetric, range, DType.F32);
    }

    /** The output head's quantization, or empty when it keeps the checkpoint's dtype (headBits 16). */
    public Optional<QuantSpec> headSpec() {
        return headBits == 16
                ? Optional.empty()
                : Optional.of(new QuantSpec(headBits, group, symmetric, range, DType.F32));
    }

    /** The bits of the attention's queries, keys and values: 16 when they stay fp32. */
    public int qkvBits() {
        return quantizeQkv && abits < 16 ? abits : 16;
    }

    /** Whether quantized activations multiply through an integer kernel (else fake quantization simulates them). */
    public boolean integerKernel() {
        return abits < 16 && Linear.ActQuantized.integerKernel(wbits, abits);
    }

    /** metrics.json's activation_kernel: none, integer or simulated. */
    public String activationKernel() {
        return abits == 16 ? "none" : integerKernel() ? "integer" : "simulated";
    }

    public QllmConfig qllmConfig() {
        return QllmConfig.builder(wbits, abits)
                .group(group)
                .reassembly(reassembly)
                .errorCorrection(errorCorrection)
                .rank(rank)
                .blocksPerRound(blocksPerRound)
                .samples(calibSamples)
                .seqLen(seqLen)
                .steps(steps)
                .batch(batch)
                .lr(lr)
                .trainNorms(trainNorms)
                .quantizeQkv(quantizeQkv)
                .searchTokens(searchTokens)
                .seed(seed)
                .build();
    }

    public GptqConfig gptqConfig() {
        return new GptqConfig(weightSpec(), damp, actOrder);
    }

    public AwqConfig awqConfig() {
        AwqConfig d = AwqConfig.of(weightSpec());
        return new AwqConfig(d.spec(), d.grid(), d.duoScaling(), awqClip, d.clipGrid(), d.maxShrink(), d.clipTokens());
    }

    public DlQatConfig dlqatConfig() {
        return DlQatConfig.builder(wbits, group)
                .rank(rank)
                .steps(steps)
                .batch(batch)
                .seqLen(seqLen)
                .lrLora(lr)
                .lrMagnitude(lrMagnitude)
                .klWeight(klWeight)
                .checkpointEvery(checkpointEvery)
                .seed(seed)
                .build();
    }

    /**
     * QuantizeRequest's settings by name. Unset, group follows {@link #defaultGroup(int)}, and rank,
     * steps and lr are the chosen method's defaults (DL-QAT: 8, 200, 2e-3; QLLM: 4, 200, 5e-3).
     */
    public static final class Builder {
        private static final DlQatConfig DLQAT = DlQatConfig.defaults(4, 128);
        private static final QllmConfig QLLM = QllmConfig.defaults(4, 4);

        private final String model;
        private final Path out;
        private QuantMethod method = QuantMethod.RTN;
        private int wbits = 4;
        private int abits = 16;
        private boolean quantizeQkv = true;
        private Integer group;
        private QuantSpec.Range range = QuantSpec.Range.MINMAX;
        private boolean symmetric;
        private Path data;
        private Path projectRoot = Path.of("").toAbsolutePath();
        private int seqLen = 128;
        private int evalWindows = 200;
        private Integer steps;
        private Integer rank;
        private Float lr;
        private int batch = 8;
        private float lrMagnitude = DLQAT.lrMagnitude();
        private float klWeight = DLQAT.klWeight();
        private int checkpointEvery = DLQAT.checkpointEvery();
        private int stopAfter = Integer.MAX_VALUE;
        private int calibSamples = QLLM.samples();
        private float alpha = 0.5f;
        private boolean reassembly = true;
        private boolean errorCorrection = true;
        private boolean trainNorms = true;
        private int blocksPerRound = QLLM.blocksPerRound();
        private int searchTokens = QLLM.searchTokens();
        private long seed = DLQAT.seed();
        private boolean gptq;
        private boolean force;
        private int headBits = 16;
        private double damp = GptqConfig.DEFAULT_DAMP;
        private boolean actOrder;
        private boolean awqClip = true;
        private QuantMethod init = QuantMethod.RTN;

        private Builder(String model, Path out) {
            this.model = model;
            this.out = out;
        }

        public QuantizeRequest build() {
            if (model == null || out == null)
                throw new LowbitException("a quantization needs a model and an output folder");
            boolean qllm = method == QuantMethod.QLLM;
            int steps = this.steps != null ? this.steps : qllm ? QLLM.steps() : DLQAT.steps();
            int rank = this.rank != null ? this.rank : qllm ? QLLM.rank() : DLQAT.rank();
            float lr = this.lr != null ? this.lr : qllm ? QLLM.lr() : DLQAT.lrLora();
            return new QuantizeRequest(
                    model,
                    out,
                    method,
                    wbits,
                    abits,
                    quantizeQkv,
                    group != null ? group : defaultGroup(abits),
                    range,
                    symmetric,
                    Optional.ofNullable(data),
                    projectRoot,
                    seqLen,
                    evalWindows,
                    steps,
                    rank,
                    lr,
                    batch,
                    lrMagnitude,
                    klWeight,
                    checkpointEvery,
                    stopAfter,
                    calibSamples,
                    alpha,
                    reassembly,
                    errorCorrection,
                    trainNorms,
                    blocksPerRound,
                    searchTokens,
                    seed,
                    gptq,
                    force,
                    headBits,
                    damp,
                    actOrder,
                    awqClip,
                    init);
        }

        public Builder method(QuantMethod method) {
            this.method = method;
            return this;
        }

        public Builder wbits(int wbits) {
            this.wbits = wbits;
            return this;
        }

        public Builder abits(int abits) {
            this.abits = abits;
            return this;
        }

        public Builder quantizeQkv(boolean quantizeQkv) {
            this.quantizeQkv = quantizeQkv;
            return this;
        }

        /** Group size (-1: per channel); null: {@link #defaultGroup(int)}. */
        public Builder group(Integer group) {
            this.group = group;
            return this;
        }

        public Builder range(QuantSpec.Range range) {
            this.range = range;
            return this;
        }

        public Builder symmetric(boolean symmetric) {
            this.symmetric = symmetric;
            return this;
        }

        /** The folder with the novels; null: LOWBIT_DATA, then the project root's ../shared/data. */
        public Builder data(Path data) {
            this.data = data;
            return this;
        }

        public Builder projectRoot(Path projectRoot) {
            this.projectRoot = projectRoot;
            return this;
        }

        /** Evaluation, training and calibration window in tokens. */
        public Builder seqLen(int seqLen) {
            this.seqLen = seqLen;
            return this;
        }

        /** Held-out windows for perplexity. */
        public Builder evalWindows(int evalWindows) {
            this.evalWindows = evalWindows;
            return this;
        }

        /** DL-QAT's training steps, or QLLM's per round of blocks; null: the method's default. */
        public Builder steps(Integer steps) {
            this.steps = steps;
            return this;
        }

        /** LoRA rank; null: the method's default. */
        public Builder rank(Integer rank) {
            this.rank = rank;
            return this;
        }

        /** Learning rate of the LoRA factors; null: the method's default. */
        public Builder lr(Float lr) {
            this.lr = lr;
            return this;
        }

        /** Sequences per training step. */
        public Builder batch(int batch) {
            this.batch = batch;
            return this;
        }

        public Builder lrMagnitude(float lrMagnitude) {
            this.lrMagnitude = lrMagnitude;
            return this;
        }

        public Builder klWeight(float klWeight) {
            this.klWeight = klWeight;
            return this;
        }

        public Builder checkpointEvery(int checkpointEvery) {
            this.checkpointEvery = checkpointEvery;
            return this;
        }

        public Builder stopAfter(int stopAfter) {
            this.stopAfter = stopAfter;
            return this;
        }

        /** QLLM and SmoothQuant calibration sequences from the training text. */
        public Builder calibSamples(int calibSamples) {
            this.calibSamples = calibSamples;
            return this;
        }

        /** SmoothQuant's migration strength. */
        public Builder alpha(float alpha) {
            this.alpha = alpha;
            return this;
        }

        public Builder reassembly(boolean reassembly) {
            this.reassembly = reassembly;
            return this;
        }

        public Builder errorCorrection(boolean errorCorrection) {
            this.errorCorrection = errorCorrection;
            return this;
        }

        public Builder trainNorms(boolean trainNorms) {
            this.trainNorms = trainNorms;
            return this;
        }

        public Builder blocksPerRound(int blocksPerRound) {
            this.blocksPerRound = blocksPerRound;
            return this;
        }

        public Builder searchTokens(int searchTokens) {
            this.searchTokens = searchTokens;
            return this;
        }

        /** Training and calibration seed. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Also write a GPTQ-format copy (4-bit weights only) into out/gptq. */
        public Builder gptq(boolean gptq) {
            this.gptq = gptq;
            return this;
        }

        /** Replace a finished model already in out (without it, such an out is refused). */
        public Builder force(boolean force) {
            this.force = force;
            return this;
        }

        /** Bits of the output head's weights: 4 or 8 (weight-only, the weights' group size), 16 keeps the checkpoint's dtype. */
        public Builder headBits(int headBits) {
            this.headBits = headBits;
            return this;
        }

        /** GPTQ's dampening of the Hessian, as a fraction of its mean diagonal. */
        public Builder damp(double damp) {
            this.damp = damp;
            return this;
        }

        /** GPTQ's activation order: columns by decreasing Hessian diagonal. */
        public Builder actOrder(boolean actOrder) {
            this.actOrder = actOrder;
            return this;
        }

        /** DL-QAT's starting grid: min-max RTN, or GPTQ (on calibSamples sequences, with damp). */
        public Builder init(QuantMethod init) {
            this.init = init;
            return this;
        }

        /** AWQ's clipping search after the scales (AutoAWQ: on). */
        public Builder awqClip(boolean awqClip) {
            this.awqClip = awqClip;
            return this;
        }
    }
}
