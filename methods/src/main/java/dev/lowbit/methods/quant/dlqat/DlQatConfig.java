package dev.lowbit.methods.quant.dlqat;

/**
 * DL-QAT hyperparameters: weight bits and group size, LoRA rank and the scale lambda of its update
 * in integer-step units, training length and batch shape, separate learning rates for the LoRA
 * matrices and the per-group magnitudes, the weight of the KL-to-full-precision term (0: next-token
 * loss only) and how often a resumable checkpoint is written.
 */
public record DlQatConfig(int bits, int group, int rank, float lambda, int steps, int batch, int seqLen, float lrLora,
                          float lrMagnitude, float klWeight, int checkpointEvery, long seed) {
    public DlQatConfig {
        if (rank < 1) throw new dev.lowbit.runtime.LowbitException("--rank must be at least 1, got " + rank);
        if (steps < 1 || batch < 1 || seqLen < 2)
            throw new dev.lowbit.runtime.LowbitException("DL-QAT needs steps, batch >= 1 and seq-len >= 2; got " + steps + ", " + batch
                    + ", " + seqLen);
        if (!(lrLora >= 0) || !(lrMagnitude >= 0) || !(klWeight >= 0) || !Float.isFinite(lrLora + lrMagnitude + klWeight))
            throw new dev.lowbit.runtime.LowbitException("learning rates and --kl-weight must be finite and >= 0");
        if (checkpointEvery < 1) throw new dev.lowbit.runtime.LowbitException("--checkpoint-every must be at least 1");
    }

    /** Defaults that finish on the default model in a few minutes on 2 cores. */
    public static DlQatConfig defaults(int bits, int group) {
        return new DlQatConfig(bits, group, 8, 1f, 200, 8, 128, 2e-3f, 1e-3f, 5f, 50, 1234);
    }
}
