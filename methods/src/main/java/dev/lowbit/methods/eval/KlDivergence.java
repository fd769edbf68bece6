package dev.lowbit.methods.eval;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * How far a (quantized) model's next-token distributions are from a reference's, tokenizer-free
 * as llama.cpp's --kl-divergence: mean KL(reference || model) per position and the fraction of
 * positions where both put their highest probability on the same token.
 */
public final class KlDivergence {
    public record Result(double meanKl, double top1Agreement, long positions) {}

    private KlDivergence() {}

    public static Result evaluate(LlamaModel reference, LlamaModel model, List<int[]> sequences) {
        return evaluate(reference, model, sequences, i -> {});
    }

    /** As {@link #evaluate(LlamaModel, LlamaModel, List)}; sequenceDone is told the count of sequences scored after each. */
    public static Result evaluate(
            LlamaModel reference, LlamaModel model, List<int[]> sequences, IntConsumer sequenceDone) {
        if (reference.config().vocabSize() != model.config().vocabSize())
            throw new LowbitException("the models have different vocabularies ("
                    + reference.config().vocabSize() + " vs " + model.config().vocabSize() + ")");
        double kl = 0;
        long agree = 0, positions = 0;
        int done = 0;
        int v = model.config().vocabSize();
        for (int[] seq : sequences) {
            try (Arena arena = Arena.ofConfined()) {
                Tensor p = reference.forward(arena, seq, reference.newCache(arena, seq.length)),
                        q = model.forward(arena, seq, model.newCache(arena, seq.length));
                NnKernels.logSoftmax(p, p);
                NnKernels.logSoftmax(q, q);
                float[] lp = p.onHost(arena).toFloatArray(),
                        lq = q.onHost(arena).toFloatArray();
                for (int i = 0; i < seq.length; i++) {
                    int argP = 0, argQ = 0;
                    for (int j = 0; j < v; j++) {
                        float a = lp[i * v + j], b = lq[i * v + j];
                        kl += Math.exp(a) * (a - b);
                        if (a > lp[i * v + argP]) argP = j;
                        if (b > lq[i * v + argQ]) argQ = j;
                    }
                    if (argP == argQ) agree++;
                    positions++;
                }
            }
            sequenceDone.accept(++done);
        }
        return new Result(kl / positions, (double) agree / positions, positions);
    }
}
