package dev.lowbit.methods;

import dev.lowbit.runtime.LowbitException;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Training batches cut from a token stream: batch i is inputs.length / seqLen windows whose starts
 * are drawn from SplittableRandom(seed, i), so a batch depends only on (seed, i) and a resumed run
 * sees the same data as an uninterrupted one.
 */
public final class TokenWindows {
    private final int[] tokens;
    private final int seqLen;
    private final long seed;

    public TokenWindows(int[] tokens, int seqLen, long seed) {
        if (tokens.length <= seqLen + 1)
            throw new LowbitException("the training text is shorter than one window of " + (seqLen + 1) + " tokens");
        this.tokens = tokens;
        this.seqLen = seqLen;
        this.seed = seed;
    }

    /** Fills inputs and their next-token targets for batch index. */
    public void fill(int index, int[] inputs, int[] targets) {
        SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + index);
        for (int b = 0; b < inputs.length / seqLen; b++) {
            int start = rnd.nextInt(tokens.length - seqLen - 1);
            System.arraycopy(tokens, start, inputs, b * seqLen, seqLen);
            System.arraycopy(tokens, start + 1, targets, b * seqLen, seqLen);
        }
    }

    /** count windows of seqLen tokens (batch 0's starts), e.g. calibration sequences. */
    public int[][] sequences(int count) {
        int[] inputs = new int[count * seqLen], targets = new int[count * seqLen];
        fill(0, inputs, targets);
        int[][] out = new int[count][];
        for (int i = 0; i < count; i++) out[i] = Arrays.copyOfRange(inputs, i * seqLen, (i + 1) * seqLen);
        return out;
    }
}
