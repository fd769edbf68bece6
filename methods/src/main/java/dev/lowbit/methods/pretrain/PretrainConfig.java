package dev.lowbit.methods.pretrain;

import dev.lowbit.runtime.model.LlamaConfig;

/**
 * Hyperparameters of the default model's pretraining run (all in one place; the CLI's defaults).
 * Each step accumulates gradients over gradAccum batches; the learning rate warms up linearly,
 * then decays to minLrRatio of the peak along a cosine or a straight line.
 */
public record PretrainConfig(
        LlamaConfig model,
        int batch,
        int seqLen,
        int gradAccum,
        int steps,
        float learningRate,
        float minLrRatio,
        int warmupSteps,
        Schedule schedule,
        float weightDecay,
        float clip,
        long seed,
        int checkpointEvery) {
    public enum Schedule {
        COSINE,
        LINEAR
    }

    /**
     * The default: about 4M parameters and a 4096-token BPE, sized to train in well under an hour
     * on 2 cores; every width a multiple of 256, so all group sizes (32 to 256) divide every layer.
     */
    public static PretrainConfig defaults() {
        return new PretrainConfig(
                new LlamaConfig(256, 768, 4, 8, 4, 4096, 256, 1e-5f, 10000f, true),
                8,
                128,
                1,
                2000,
                2e-3f,
                0.1f,
                100,
                Schedule.COSINE,
                0.1f,
                1f,
                1234,
                100);
    }

    public float learningRate(int step) {
        if (step < warmupSteps) return learningRate * (step + 1) / warmupSteps;
        double progress = Math.min(1, (double) (step - warmupSteps) / Math.max(1, steps - warmupSteps));
        double shape = schedule == Schedule.COSINE ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
        return (float) (learningRate * (minLrRatio + (1 - minLrRatio) * shape));
    }
}
