package dev.lowbit.methods.quant.qllm;

import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.TrainLinear;
import java.lang.foreign.Arena;

/**
 * One linear of QLLM's error correction, as training sees it: x -> reassembly (map, optional) ->
 * per-token fake quantization at abits (16: none) -> . Q(W + scale B A)^T, with W re-laid for the
 * reassembly, Q the per-channel (or group-wise) asymmetric min-max weight quantizer and B A the
 * low-rank correction (B [out, r] starts at zero). Rounding is straight-through: gradients pass
 * both quantizers as if they were the identity. {@link #merge} folds B A into W, after which the
 * forward is Q(W) and {@link #export} gives the real quantized layer with the same values.
 */
final class LoraQuantLinear implements TrainLinear {
    private final ChannelMap map;
    private final Tensor w;
    private final Tensor a, b, gradA, gradB;
    private final float scale;
    private final QuantSpec spec;
    private final int abits;
    private final Tensor xr, xq, wq, dW, dxr, dxIn;

    /**
     * w: the re-laid weights [out, map.outChannels()] (copied); a, b and their gradients: views the
     * optimizer owns; rows: the largest batch of token rows forward will see.
     */
    LoraQuantLinear(
            Arena arena,
            ChannelMap map,
            Tensor w,
            Tensor a,
            Tensor b,
            Tensor gradA,
            Tensor gradB,
            float scale,
            QuantSpec spec,
            int abits,
            long rows) {
        long out = w.dim(0), in = w.dim(1);
        this.map = map;
        this.w = Tensor.allocate(arena, DType.F32, out, in);
        this.w.copyFrom(w);
        this.a = a;
        this.b = b;
        this.gradA = gradA;
        this.gradB = gradB;
        this.scale = scale;
        this.spec = spec;
        this.abits = abits;
        spec.groupSizeFor(in);
        xr = map == null ? null : Tensor.allocate(arena, DType.F32, rows, in);
        xq = abits < 16 ? Tensor.allocate(arena, DType.F32, rows, in) : null;
        wq = Tensor.allocate(arena, DType.F32, out, in);
        dW = Tensor.allocate(arena, DType.F32, out, in);
        dxr = map == null ? null : Tensor.allocate(arena, DType.F32, rows, in);
        dxIn = map == null ? null : Tensor.allocate(arena, DType.F32, rows, map.inChannels());
    }

    @Override
    public void forward(Tensor x, Tensor y) {
        Tensor in = quantizedInput(x);
        effectiveWeights(wq);
        Kernels.fakeQuantGroups(wq, spec.groupSizeFor(w.dim(1)), spec.bits(), wq);
        Kernels.matmul(in, wq.transpose(), y, 1f, 0f);
    }

    @Override
    public void backward(Tensor x, Tensor dy, Tensor dx, float beta) {
        long m = dy.dim(0);
        Tensor in = (xq != null ? xq : xr != null ? xr : x).rows(0, m);
        Kernels.matmul(dy.transpose(), in, dW, 1f, 0f); // d Q(W + sBA), passed straight through to W + sBA
        Kernels.matmul(dW, a.transpose(), gradB, scale, 1f);
        Kernels.matmul(b.transpose(), dW, gradA, scale, 1f);
        if (map == null) {
            Kernels.matmul(dy, wq, dx, 1f, beta);
            return;
        }
        Tensor d = dxr.rows(0, m);
        Kernels.matmul(dy, wq, d, 1f, 0f);
        if (beta == 0f) {
            Kernels.channelReassembleBackward(d, map, dx);
        } else {
            Tensor tmp = dxIn.rows(0, m);
            Kernels.channelReassembleBackward(d, map, tmp);
            NnKernels.addInto(tmp, dx);
        }
    }

    /** W <- W + scale B A and B <- 0: the forward is unchanged, the correction now part of W. */
    void merge() {
        Kernels.matmul(b, a, w, scale, 1f);
        b.segment().fill((byte) 0);
    }

    /** The inference layer with the current (merged) weights: Q(W) behind the reassembly, activations at abits. */
    Linear export(Arena arena) {
        effectiveWeights(wq);
        QuantizedTensor q = Kernels.quantize(arena, wq, spec);
        Linear inner = abits < 16 ? new Linear.ActQuantized(q, abits) : new Linear.Quantized(q);
        return map == null ? inner : new Linear.Reassembled(map, inner);
    }

    private void effectiveWeights(Tensor out) {
        out.copyFrom(w);
        Kernels.matmul(b, a, out, scale, 1f);
    }

    /** x reassembled and fake-quantized per token, into this layer's buffers. */
    private Tensor quantizedInput(Tensor x) {
        long m = x.dim(0);
        Tensor in = x;
        if (map != null) {
            in = xr.rows(0, m);
            Kernels.channelReassemble(x, map, in);
        }
        if (abits < 16) {
            Tensor q = xq.rows(0, m);
            Kernels.fakeQuantGroups(in, (int) in.dim(1), abits, q);
            in = q;
        }
        return in;
    }
}
