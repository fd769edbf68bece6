package dev.lowbit.methods.eval;

import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Text a model samples itself, for comparing or calibrating models that come without a tokenizer. */
public final class ModelSamples {
    private ModelSamples() {}

    /** count sequences of seqLen tokens the model samples from BOS (token 1, as llama2.c's tokenizers have it). */
    public static List<int[]> fromBos(LlamaModel model, int count, int seqLen) {
        return fromBos(model, count, seqLen, 1000);
    }

    /** As above, the sampling seeds starting at seedBase (disjoint bases keep training and evaluation samples apart). */
    public static List<int[]> fromBos(LlamaModel model, int count, int seqLen, long seedBase) {
        Generator g = new Generator(model, Optional.empty());
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            int[] gen = g.generate(new int[] {1}, new Generator.Options(seqLen - 1, 1f, 1f, seedBase + s, -1), null);
            int[] seq = new int[gen.length + 1];
            seq[0] = 1;
            System.arraycopy(gen, 0, seq, 1, gen.length);
            out.add(seq);
        }
        return out;
    }
}
