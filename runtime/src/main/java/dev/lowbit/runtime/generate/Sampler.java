package dev.lowbit.runtime.generate;

import dev.lowbit.runtime.LowbitException;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: greedy at temperature 0, otherwise softmax(logits /
 * temperature) restricted to the topK most likely tokens (0 keeps all), then to the smallest set of
 * those whose probability (renormalized over them) reaches topP (nucleus sampling), as Hugging Face's
 * top-k then top-p warpers; drawn with this sampler's seeded random stream.
 */
public final class Sampler {
    private final float temperature;
    private final float topP;
    private final int topK;
    private final SplittableRandom rnd;

    public Sampler(float temperature, float topP, long seed) {
        this(temperature, topP, 0, seed);
    }

    public Sampler(float temperature, float topP, int topK, long seed) {
        if (!(temperature >= 0) || !(topP > 0 && topP <= 1))
            throw new LowbitException(
                    "temperature must be >= 0 and top-p in (0, 1], got " + temperature + " and " + topP);
        if (topK < 0) throw new LowbitException("top-k must be >= 0 (0 keeps all tokens), got " + topK);
        this.temperature = temperature;
        this.topP = topP;
        this.topK = topK;
        this.rnd = new SplittableRandom(seed);
    }

    public int next(float[] logits, int offset, int vocab) {
        for (int i = offset; i < offset + vocab; i++)
            if (!Float.isFinite(logits[i]))
                throw new LowbitException("the model produced a logit of " + logits[i] + " (token " + (i - offset)
                        + "): its weights or activations overflowed; check the model's weights or use another model");
        int best = offset;
        for (int i = offset + 1; i < offset + vocab; i++) if (logits[i] > logits[best]) best = i;
        if (temperature == 0) return best - offset;
        double[] p = new double[vocab];
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += p[i] = Math.exp((logits[offset + i] - logits[best]) / temperature);
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        int limit = topK == 0 ? vocab : Math.min(topK, vocab);
        double kept = sum; // the probability mass of the top k
        if (limit < vocab) {
            kept = 0;
            for (int i = 0; i < limit; i++) kept += p[order[i]];
        }
        double mass = 0;
        int keep = 0;
        while (keep < limit && mass < topP * kept) mass += p[order[keep++]];
        double r = rnd.nextDouble() * mass;
        for (int i = 0; i < keep; i++) {
            r -= p[order[i]];
            if (r <= 0) return order[i];
        }
        return order[keep - 1];
    }
}
