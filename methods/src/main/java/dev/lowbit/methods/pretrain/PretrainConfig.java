package dev.lowbit.methods.pretrain;

import dev.lowbit.runtime.model.LlamaConfig;

/** Hyperparameters of the default model's pretraining run (all in one place; the CLI's defaults). */
public record PretrainConfig(LlamaConfig model, int batch, int seqLen, int steps, float learningRate, float minLrRatio,
                             int warmupSteps, float weightDecay, float clip, long seed, int checkpointEvery) {
    /** The default: about 5M parameters and a 4096-token BPE, sized to train in well under an hour on 2 cores. */
    public static PretrainConfig defaults() {
        return new PretrainConfig(new LlamaConfig(256, 688, 4, 8, 4, 4096, 256, 1e-5f, 10000f, true), 8, 128, 2000, 2e-3f, 0.1f,
                100, 0.1f, 1f, 1234, 100);
    }

    /** Linear warm-up, then cosine decay to minLrRatio of the peak. */
    public float learningRate(int step) {
        if (step < warmupSteps) return learningRate * (step + 1) / warmupSteps;
        double progress = (double) (step - warmupSteps) / Math.max(1, steps - warmupSteps);
        return (float) (learningRate * (minLrRatio + (1 - minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)))));
    }
}
