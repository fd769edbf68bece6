package dev.lowbit.methods.quant;

/**
 * DL-QAT hyperparameters: weight bits and group size, LoRA rank and the scale lambda of its update
 * in integer-step units, training length and batch shape, and separate learning rates for the
 * LoRA matrices and the per-group magnitudes.
 */
public record DlQatConfig(int bits, int group, int rank, float lambda, int steps, int batch, int seqLen, float lrLora,
                          float lrMagnitude, long seed) {
    /** Defaults that finish on the default model in a few minutes on 2 cores. */
    public static DlQatConfig defaults(int bits, int group) {
        return new DlQatConfig(bits, group, 8, 1f, 300, 8, 128, 2e-3f, 1e-3f, 1234);
    }
}
