package dev.lowbit.methods.quant.dlqat;

import dev.lowbit.runtime.LowbitException;

/**
 * DL-QAT hyperparameters: weight bits and group size, LoRA rank and the scale lambda of its update
 * in integer-step units, training length and batch shape, separate learning rates for the LoRA
 * matrices and the per-group magnitudes, the weight of the KL-to-full-precision term (0: next-token
 * loss only) and how often a resumable checkpoint is written.
 *
 * <p>Build one with {@link #builder(int, int)}, which starts from {@link #defaults(int, int)}.
 */
public record DlQatConfig(
        int bits,
        int group,
        int rank,
        float lambda,
        int steps,
        int batch,
        int seqLen,
        float lrLora,
        float lrMagnitude,
        float klWeight,
        int checkpointEvery,
        long seed) {
    public DlQatConfig {
        if (rank < 1) throw new LowbitException("the LoRA rank must be at least 1, got " + rank);
        if (steps < 1 || batch < 1 || seqLen < 2)
            throw new LowbitException("DL-QAT needs steps, batch >= 1 and a sequence length >= 2; got " + steps + ", "
                    + batch + ", " + seqLen);
        if (!(lrLora >= 0)
                || !(lrMagnitude >= 0)
                || !(klWeight >= 0)
                || !Float.isFinite(lrLora + lrMagnitude + klWeight))
            throw new LowbitException("the learning rates and the KL weight must be finite and >= 0");
        if (checkpointEvery < 1)
            throw new LowbitException("checkpoints must be at least 1 step apart, got " + checkpointEvery);
    }

    /** Defaults that finish on the default model in a few minutes on 2 cores. */
    public static DlQatConfig defaults(int bits, int group) {
        return builder(bits, group).build();
    }

    /** A builder holding {@link #defaults(int, int)}'s values until they are set. */
    public static Builder builder(int bits, int group) {
        return new Builder(bits, group);
    }

    /** DlQatConfig's settings by name; build() validates them. */
    public static final class Builder {
        private final int bits;
        private final int group;
        private int rank = 8;
        private float lambda = 1f;
        private int steps = 200;
        private int batch = 8;
        private int seqLen = 128;
        private float lrLora = 2e-3f;
        private float lrMagnitude = 1e-3f;
        private float klWeight = 5f;
        private int checkpointEvery = 50;
        private long seed = 1234;

        private Builder(int bits, int group) {
            this.bits = bits;
            this.group = group;
        }

        public Builder rank(int rank) {
            this.rank = rank;
            return this;
        }

        public Builder lambda(float lambda) {
            this.lambda = lambda;
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

        public Builder seqLen(int seqLen) {
            this.seqLen = seqLen;
            return this;
        }

        public Builder lrLora(float lrLora) {
            this.lrLora = lrLora;
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

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public DlQatConfig build() {
            return new DlQatConfig(
                    bits,
                    group,
                    rank,
                    lambda,
                    steps,
                    batch,
                    seqLen,
                    lrLora,
                    lrMagnitude,
                    klWeight,
                    checkpointEvery,
                    seed);
        }
    }
}
