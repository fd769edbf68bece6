package dev.lowbit.runtime.train;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * Training forward and backward of one LLaMA block on B sequences of T tokens (rows B*T): RMSNorm
 * -> q/k/v -> RoPE -> causal attention -> o_proj + residual, RMSNorm -> SwiGLU MLP + residual.
 * The linears are {@link TrainLinear}s; with qkvBits below 16
 * the rotated queries and keys and the values are fake-quantized per token and head (straight-
 * through backward). Buffers for what the backward needs are allocated once; backward scratch is
 * shared between the blocks of one model ({@link Scratch}).
 */
public final class BlockPass {
    private final LlamaConfig c;
    private final int batch;
    private final int seqLen;
    private final Tensor attentionNorm;
    private final Tensor ffnNorm;
    private final Tensor attentionNormGrad;
    private final Tensor ffnNormGrad;
    private final Projections<? extends TrainLinear> lin;
    private final int qkvBits;
    private final Scratch d;
    private Tensor in;
    // saved by forward for backward
    private final Tensor xb1, inv1, q, k, v, probs, att, mid, xb2, inv2, h1, h3, gated;

    /** Backward scratch for one batch shape, shared by every block of a model. */
    public static final class Scratch {
        final Tensor dxb, dtmp, dq, dk, dv, datt, dh1, dh3;
        private final Tensor normGrad;

        public Scratch(Arena arena, LlamaConfig c, int rows) {
            dxb = f32(arena, rows, c.dim());
            dtmp = f32(arena, rows, c.dim());
            dq = f32(arena, rows, c.dim());
            dk = f32(arena, rows, c.kvDim());
            dv = f32(arena, rows, c.kvDim());
            datt = f32(arena, rows, c.dim());
            dh1 = f32(arena, rows, c.hiddenDim());
            dh3 = f32(arena, rows, c.hiddenDim());
            normGrad = Tensor.allocate(arena, DType.F32, c.dim());
        }

        /** Where a norm weight's gradient goes: its gradient, or zeroed scratch when frozen (null). */
        Tensor normGrad(Tensor grad) {
            if (grad != null) return grad;
            normGrad.segment().fill((byte) 0);
            return normGrad;
        }
    }

    /** Norm gradients may be null (frozen norms). */
    public BlockPass(
            Arena arena,
            LlamaConfig c,
            int batch,
            int seqLen,
            Tensor attentionNorm,
            Tensor ffnNorm,
            Tensor attentionNormGrad,
            Tensor ffnNormGrad,
            Projections<? extends TrainLinear> linears,
            int qkvBits,
            Scratch scratch) {
        this.c = c;
        this.batch = batch;
        this.seqLen = seqLen;
        this.attentionNorm = attentionNorm;
        this.ffnNorm = ffnNorm;
        this.attentionNormGrad = attentionNormGrad;
        this.ffnNormGrad = ffnNormGrad;
        this.lin = linears;
        this.qkvBits = qkvBits;
        this.d = scratch;
        int n = batch * seqLen, dim = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
        xb1 = f32(arena, n, dim);
        inv1 = Tensor.allocate(arena, DType.F32, n);
        q = f32(arena, n, dim);
        k = f32(arena, n, kv);
        v = f32(arena, n, kv);
        probs = Tensor.allocate(arena, DType.F32, batch, c.heads(), seqLen, seqLen);
        att = f32(arena, n, dim);
        mid = f32(arena, n, dim);
        xb2 = f32(arena, n, dim);
        inv2 = Tensor.allocate(arena, DType.F32, n);
        h1 = f32(arena, n, h);
        h3 = f32(arena, n, h);
        gated = f32(arena, n, h);
    }

    /** The full-precision block with every weight frozen (for calibration: activations and fp targets). */
    public static BlockPass frozen(
            Arena arena, LlamaConfig c, int batch, int seqLen, LlamaWeights.Layer p, Scratch scratch) {
        Projections<TrainLinear> lin = p.linears().map(w -> new TrainLinear.Dense(w, null));
        return new BlockPass(arena, c, batch, seqLen, p.attentionNorm(), p.ffnNorm(), null, null, lin, 16, scratch);
    }

    private static Tensor f32(Arena arena, long rows, long cols) {
        return Tensor.allocate(arena, DType.F32, rows, cols);
    }

    /** out = block(in); in must stay unchanged until the backward. */
    public void forward(Tensor in, Tensor out) {
        this.in = in;
        NnKernels.rmsNorm(in, attentionNorm, c.normEps(), xb1, inv1);
        lin.q().forward(xb1, q);
        lin.k().forward(xb1, k);
        lin.v().forward(xb1, v);
        NnKernels.rope(q, c.heads(), 0, seqLen, c.ropeTheta());
        NnKernels.rope(k, c.kvHeads(), 0, seqLen, c.ropeTheta());
        if (qkvBits < 16) {
            int headDim = c.dim() / c.heads();
            Kernels.fakeQuantGroups(q, headDim, qkvBits, q);
            Kernels.fakeQuantGroups(k, headDim, qkvBits, k);
            Kernels.fakeQuantGroups(v, headDim, qkvBits, v);
        }
        NnKernels.attentionTrain(q, k, v, batch, seqLen, c.heads(), c.kvHeads(), att, probs);
        lin.o().forward(att, mid);
        NnKernels.addInto(in, mid);
        NnKernels.rmsNorm(mid, ffnNorm, c.normEps(), xb2, inv2);
        lin.gate().forward(xb2, h1);
        lin.up().forward(xb2, h3);
        NnKernels.siluGate(h1, h3, gated);
        lin.down().forward(gated, out);
        NnKernels.addInto(mid, out);
    }

    /** From the last forward, the activation at site ([rows, site.width]). */
    public Tensor input(ActivationSite site) {
        return switch (site) {
            case QKV -> xb1;
            case GATE_UP -> xb2;
            case DOWN -> gated;
        };
    }

    /** dx holds d out on entry and d in on return; parameter gradients accumulate. */
    public void backward(Tensor dx) {
        // MLP branch: out = mid + down(gated), gated = silu(h1) * h3
        lin.down().backward(gated, dx, d.dh1, 0f); // d gated, turned into d h1 / d h3 below
        NnKernels.siluGateBackward(h1, h3, d.dh1, d.dh1, d.dh3);
        lin.gate().backward(xb2, d.dh1, d.dxb, 0f);
        lin.up().backward(xb2, d.dh3, d.dxb, 1f);
        NnKernels.rmsNormBackward(mid, ffnNorm, inv2, d.dxb, d.dtmp, d.normGrad(ffnNormGrad));
        NnKernels.addInto(d.dtmp, dx); // dx is now d mid
        // attention branch: mid = in + o(att)
        lin.o().backward(att, dx, d.datt, 0f);
        NnKernels.attentionBackward(q, k, v, probs, d.datt, batch, seqLen, c.heads(), c.kvHeads(), d.dq, d.dk, d.dv);
        NnKernels.ropeBackward(d.dq, c.heads(), 0, seqLen, c.ropeTheta());
        NnKernels.ropeBackward(d.dk, c.kvHeads(), 0, seqLen, c.ropeTheta());
        lin.q().backward(xb1, d.dq, d.dxb, 0f);
        lin.k().backward(xb1, d.dk, d.dxb, 1f);
        lin.v().backward(xb1, d.dv, d.dxb, 1f);
        NnKernels.rmsNormBackward(in, attentionNorm, inv1, d.dxb, d.dtmp, d.normGrad(attentionNormGrad));
        NnKernels.addInto(d.dtmp, dx); // dx is now d in
    }
}
