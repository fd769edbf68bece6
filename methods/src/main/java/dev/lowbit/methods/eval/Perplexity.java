package dev.lowbit.methods.eval;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Perplexity over non-overlapping windows of seqLen + 1 tokens (stride seqLen): within a window,
 * each of the last seqLen tokens is scored given the tokens before it; exp of the mean negative
 * log-likelihood over all scored tokens.
 */
public final class Perplexity {
    public record Result(double perplexity, double meanNll, long tokensScored, int seqLen, int stride) {}

    private Perplexity() {}

    public static Result evaluate(LlamaModel model, int[] tokens, int seqLen, int maxWindows) {
        return evaluate(model, tokens, seqLen, maxWindows, w -> {});
    }

    /** The windows evaluate scores: at most maxWindows, as many whole windows of seqLen + 1 tokens as tokens hold. */
    public static int windows(int[] tokens, int seqLen, int maxWindows) {
        return Math.min(maxWindows, (tokens.length - 1) / seqLen);
    }

    /** As {@link #evaluate(LlamaModel, int[], int, int)}; windowDone is told the count of windows scored after each. */
    public static Result evaluate(LlamaModel model, int[] tokens, int seqLen, int maxWindows, IntConsumer windowDone) {
        if (seqLen <= 0 || seqLen > model.config().maxSeqLen())
            throw new LowbitException("sequence length " + seqLen + " must be in [1, "
                    + model.config().maxSeqLen() + "]");
        int windows = windows(tokens, seqLen, maxWindows);
        if (windows <= 0)
            throw new LowbitException(
                    "the text has " + tokens.length + " tokens, fewer than one window of " + (seqLen + 1));
        double nll = 0;
        for (int w = 0; w < windows; w++) {
            try (Arena arena = Arena.ofConfined()) {
                int[] in = Arrays.copyOfRange(tokens, w * seqLen, w * seqLen + seqLen);
                Tensor logits = model.forward(arena, in, model.newCache(arena, in.length));
                Tensor targets = Tensor.allocate(arena, DType.I32, seqLen),
                        losses = Tensor.allocate(arena, model.device(), DType.F32, seqLen);
                MemorySegment.copy(tokens, w * seqLen + 1, targets.segment(), ValueLayout.JAVA_INT, 0, seqLen);
                NnKernels.crossEntropy(logits, targets.to(arena, model.device()), losses);
                for (float l : losses.onHost(arena).toFloatArray()) nll += l;
            }
            windowDone.accept(w + 1);
        }
        long scored = (long) windows * seqLen;
        return new Result(Math.exp(nll / scored), nll / scored, scored, seqLen, seqLen);
    }
}
