package dev.lowbit.methods.quant.awq;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * The two halves of a LLaMA block on one sequence of seqLen tokens, for AWQ's losses: the
 * attention (q/k/v from the normed input, RoPE, causal attention, o_proj) and the MLP (SwiGLU,
 * down_proj), with the weights passed in so candidates can be tried; scratch allocated once.
 */
final class BlockForward {
    private final LlamaConfig c;
    private final int seqLen;
    private final Tensor q, k, v, probs, h1, h3;

    BlockForward(Arena arena, LlamaConfig c, int seqLen) {
        this.c = c;
        this.seqLen = seqLen;
        q = Tensor.allocate(arena, DType.F32, seqLen, c.dim());
        k = Tensor.allocate(arena, DType.F32, seqLen, c.kvDim());
        v = Tensor.allocate(arena, DType.F32, seqLen, c.kvDim());
        probs = Tensor.allocate(arena, DType.F32, 1, c.heads(), seqLen, seqLen);
        h1 = Tensor.allocate(arena, DType.F32, seqLen, c.hiddenDim());
        h3 = Tensor.allocate(arena, DType.F32, seqLen, c.hiddenDim());
    }

    /** out = o_proj(attention(x)) for the normed input x; att receives o_proj's input. */
    void attention(Tensor x, Tensor wq, Tensor wk, Tensor wv, Tensor wo, Tensor att, Tensor out) {
        Kernels.matmul(x, wq.transpose(), q, 1f, 0f);
        Kernels.matmul(x, wk.transpose(), k, 1f, 0f);
        Kernels.matmul(x, wv.transpose(), v, 1f, 0f);
        NnKernels.rope(q, c.heads(), 0, seqLen, c.ropeTheta());
        NnKernels.rope(k, c.kvHeads(), 0, seqLen, c.ropeTheta());
        NnKernels.attentionTrain(q, k, v, 1, seqLen, c.heads(), c.kvHeads(), att, probs);
        Kernels.matmul(att, wo.transpose(), out, 1f, 0f);
    }

    /** out = down(silu(gate(x)) · up(x)) for the normed input x; gated receives down_proj's input. */
    void mlp(Tensor x, Tensor wgate, Tensor wup, Tensor wdown, Tensor gated, Tensor out) {
        Kernels.matmul(x, wgate.transpose(), h1, 1f, 0f);
        Kernels.matmul(x, wup.transpose(), h3, 1f, 0f);
        NnKernels.siluGate(h1, h3, gated);
        Kernels.matmul(gated, wdown.transpose(), out, 1f, 0f);
    }
}
