package dev.lowbit.methods.eval;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Log-likelihood scoring as lm-evaluation-harness does it: each choice's continuation tokens are
 * scored given its context; acc picks the highest total log-likelihood, acc_norm the highest per
 * UTF-8 byte of the continuation. Contexts too long for the model keep their last tokens.
 */
public final class MultipleChoice {
    public record Result(double acc, double accNorm, int items) {}

    private MultipleChoice() {}

    public static Result score(LlamaModel model, BpeTokenizer tok, List<McItem> items) {
        int correct = 0, correctNorm = 0;
        for (McItem item : items) {
            int best = 0, bestNorm = 0;
            double bestLl = Double.NEGATIVE_INFINITY, bestNormLl = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < item.contexts().size(); c++) {
                String cont = item.continuations().get(c);
                double ll = logLikelihood(model, tok, item.contexts().get(c), cont);
                double norm = ll / cont.getBytes(StandardCharsets.UTF_8).length;
                if (ll > bestLl) {
                    bestLl = ll;
                    best = c;
                }
                if (norm > bestNormLl) {
                    bestNormLl = norm;
                    bestNorm = c;
                }
            }
            if (best == item.label()) correct++;
            if (bestNorm == item.label()) correctNorm++;
        }
        return new Result((double) correct / items.size(), (double) correctNorm / items.size(), items.size());
    }

    /** Sum of log p(continuation tokens | context tokens and the continuation so far). */
    public static double logLikelihood(LlamaModel model, BpeTokenizer tok, String context, String continuation) {
        int[] ctx = withBos(tok, tok.encode(context)), cont = tok.encode(continuation);
        int max = model.config().maxSeqLen() + 1;
        if (cont.length >= max)
            throw new LowbitException("an answer of " + cont.length + " tokens does not fit the model's context of "
                    + model.config().maxSeqLen() + " tokens with any of its question: use a model with a longer "
                    + "context or tasks with shorter answers");
        int[] all = concat(ctx, cont);
        if (all.length > max) all = Arrays.copyOfRange(all, all.length - max, all.length);
        int[] input = Arrays.copyOf(all, all.length - 1);
        try (Arena arena = Arena.ofConfined()) {
            Tensor logits = model.forward(arena, input, model.newCache(arena));
            NnKernels.logSoftmax(logits, logits);
            int v = model.config().vocabSize();
            float[] lp = logits.onHost(arena).toFloatArray();
            double ll = 0;
            for (int i = all.length - cont.length; i < all.length; i++) ll += lp[(i - 1) * v + all[i]];
            return ll;
        }
    }

    /** Fraction of items whose last word the model completes exactly, greedily. */
    public static double lastWordAccuracy(LlamaModel model, BpeTokenizer tok, List<McTasks.LastWord> items) {
        int correct = 0;
        for (McTasks.LastWord item : items) {
            int[] ctx = withBos(tok, tok.encode(item.context())), word = tok.encode(item.word());
            int[] all = concat(ctx, word);
            if (all.length > model.config().maxSeqLen()) continue;
            try (Arena arena = Arena.ofConfined()) {
                float[] lp = model.forward(arena, Arrays.copyOf(all, all.length - 1), model.newCache(arena))
                        .onHost(arena)
                        .toFloatArray();
                int v = model.config().vocabSize();
                boolean ok = true;
                for (int i = ctx.length; i < all.length && ok; i++) ok = argmax(lp, (i - 1) * v, v) == all[i];
                if (ok) correct++;
            }
        }
        return (double) correct / items.size();
    }

    private static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }

    private static int[] withBos(BpeTokenizer tok, int[] ids) {
        int bos = tok.specialId("<s>");
        if (bos < 0) return ids;
        int[] out = new int[ids.length + 1];
        out[0] = bos;
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
