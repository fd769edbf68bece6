package dev.lowbit.methods.quant;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.Finite;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * One block of a checkpoint's weights as stored (mapped bf16/fp16/fp32, see ModelFiles.openStored)
 * widened into a writable fp32 copy, for the methods that stream block by block: the values
 * LlamaParameters.copyOf gives for the whole model (widening is exact), q_proj and k_proj put in
 * lowbit's rotary row order when the checkpoint holds Hugging Face's, every linear checked for NaN
 * (the stored view was not: a larger-than-memory checkpoint is read once).
 */
public final class BlockWeights {
    private BlockWeights() {}

    /** Block l's norms and linears, fp32, in arena. */
    public static LlamaWeights.Layer widened(Arena arena, LlamaWeights stored, boolean hfRotaryOrder, int l) {
        LlamaWeights.Layer p = stored.layers().get(l);
        Projections<Tensor> linears = Projections.of(j -> linear(arena, stored, hfRotaryOrder, l, j));
        return new LlamaWeights.Layer(
                Kernels.widened(arena, p.attentionNorm()), Kernels.widened(arena, p.ffnNorm()), linears);
    }

    /** Block l's linear j, fp32 and in lowbit's row order, in arena; a NaN or Inf names the tensor. */
    public static Tensor linear(Arena arena, LlamaWeights stored, boolean hfRotaryOrder, int l, Projection j) {
        Tensor view = stored.layers().get(l).linears().get(j);
        // checked where it is mapped: Finite scans in parallel, which a confined arena's copy would refuse
        long bad = Finite.firstNonFinite(view);
        if (bad >= 0) throw new LowbitException("tensor '" + j.weightName(l) + "' holds NaN or Inf at element " + bad);
        Tensor w = Kernels.widened(arena, view);
        if (hfRotaryOrder && (j == Projection.Q || j == Projection.K))
            HfCheckpoint.interleaveRotary(w, j, stored.config());
        return w;
    }
}
