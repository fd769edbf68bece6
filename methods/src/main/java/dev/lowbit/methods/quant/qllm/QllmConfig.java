package dev.lowbit.methods.quant.qllm;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.QuantSpec;

/**
 * QLLM's settings. Weights: wbits, per-channel (group -1) or group-wise, asymmetric min-max.
 * Activations: abits per token, dynamic, asymmetric (16 keeps them fp32), and with quantizeQkv the
 * attention's queries, keys and values per token and head too. reassembly: channel disassembly
 * and assembly at the three sites with the per-layer threshold search over searchTokens
 * calibration tokens. errorCorrection: LoRA of rank r (B A scaled by loraScale = alpha / r) on all
 * seven linears, trained on blocksPerRound consecutive blocks at a time for steps AdamW steps of
 * batch sequences with linearly decaying lr, against the full-precision blocks' outputs (MSE), then
 * merged; with trainNorms the blocks' RMSNorm weights train too. Calibration: samples sequences of
 * seqLen tokens from the training text, drawn with seed.
 *
 * <p>Build one with {@link #builder(int, int)}, which starts from {@link #defaults(int, int)}.
 */
public record QllmConfig(
        int wbits,
        int abits,
        int group,
        boolean reassembly,
        boolean errorCorrection,
        int rank,
        float loraScale,
        int blocksPerRound,
        int samples,
        int seqLen,
        int steps,
        int batch,
        float lr,
        boolean trainNorms,
        boolean quantizeQkv,
        int searchTokens,
        long seed) {
    public QllmConfig {
        QuantSpec.of(wbits, group);
        if (abits != 16 && (abits < 2 || abits > 8))
            throw new LowbitException(abits + "-bit activations are not supported: use 4, 6, 8 or 16");
        if (rank <= 0) throw new LowbitException("the LoRA rank must be positive, got " + rank);
        if (blocksPerRound <= 0) throw new LowbitException("blocks per round must be positive, got " + blocksPerRound);
        if (batch <= 0 || samples <= 0 || samples % batch != 0)
            throw new LowbitException(samples + " calibration samples do not split into batches of " + batch
                    + "; choose a batch that divides them");
        if (seqLen <= 1) throw new LowbitException("calibration sequences need at least 2 tokens, got " + seqLen);
        if (steps < 0 || !(lr > 0))
            throw new LowbitException("steps must be >= 0 and lr > 0, got " + steps + " and " + lr);
        if (searchTokens <= 0) throw new LowbitException("the threshold search needs tokens, got " + searchTokens);
    }

    /** The official code's choices (rank 4, alpha / r = 0.25, rounds of 4 blocks, norms trained), scaled to a small model's calibration. */
    public static QllmConfig defaults(int wbits, int abits) {
        return builder(wbits, abits).build();
    }

    /** A builder holding {@link #defaults(int, int)}'s values until they are set. */
    public static Builder builder(int wbits, int abits) {
        return new Builder(wbits, abits);
    }

    /** 16 when the attention's queries, keys and values stay fp32. */
    public int qkvBits() {
        return quantizeQkv && abits < 16 ? abits : 16;
    }

    public QuantSpec weightSpec() {
        return QuantSpec.of(wbits, group);
    }

    /** QllmConfig's settings by name; build() validates them. */
    public static final class Builder {
        private final int wbits;
        private final int abits;
        private int group = QuantSpec.PER_CHANNEL;
        private boolean reassembly = true;
        private boolean errorCorrection = true;
        private int rank = 4;
        private float loraScale = 0.25f;
        private int blocksPerRound = 4;
        private int samples = 64;
        private int seqLen = 128;
        private int steps = 200;
        private int batch = 8;
        private float lr = 5e-3f;
        private boolean trainNorms = true;
        private boolean quantizeQkv = true;
        private int searchTokens = 2048;
        private long seed = 1;

        private Builder(int wbits, int abits) {
            this.wbits = wbits;
            this.abits = abits;
        }

        public Builder group(int group) {
            this.group = group;
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

        public Builder rank(int rank) {
            this.rank = rank;
            return this;
        }

        public Builder loraScale(float loraScale) {
            this.loraScale = loraScale;
            return this;
        }

        public Builder blocksPerRound(int blocksPerRound) {
            this.blocksPerRound = blocksPerRound;
            return this;
        }

        public Builder samples(int samples) {
            this.samples = samples;
            return this;
        }

        public Builder seqLen(int seqLen) {
            this.seqLen = seqLen;
            return this;
        }

        public Builder steps(int steps) {
            this.steps = steps;
            return this;
        }

        public Builder batch(int batch) {
            this.batch = batch;
            return this;
        }

        public Builder lr(float lr) {
            this.lr = lr;
            return this;
        }

        public Builder trainNorms(boolean trainNorms) {
            this.trainNorms = trainNorms;
            return this;
        }

        public Builder quantizeQkv(boolean quantizeQkv) {
            this.quantizeQkv = quantizeQkv;
            return this;
        }

        public Builder searchTokens(int searchTokens) {
            this.searchTokens = searchTokens;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public QllmConfig build() {
            return new QllmConfig(
                    wbits,
                    abits,
                    group,
                    reassembly,
                    errorCorrection,
                    rank,
                    loraScale,
                    blocksPerRound,
                    samples,
                    seqLen,
                    steps,
                    batch,
                    lr,
                    trainNorms,
                    quantizeQkv,
                    searchTokens,
                    seed);
        }
    }
}
