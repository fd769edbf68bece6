package dev.lowbit.runtime.kernels;

import static dev.lowbit.runtime.kernels.Kernels.optional;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The element-wise and attention operations of the transformer (RMSNorm, rotary embedding,
 * grouped-query attention, SiLU gate, log-softmax, cross-entropy) and their backward passes,
 * validated on the Java side and run by liblowbit for host tensors or liblowbit_cuda for CUDA
 * tensors (all tensors of a call on one device). Activations are fp32 [rows, features] tensors;
 * heads are laid out [rows, heads * head_dim].
 */
public final class NnKernels {
    static {
        Native.ensureLoaded();
    }

    private NnKernels() {}

    /** y = x * w / rms(x) per row; invRms [m] (may be null) receives 1 / rms. y may be x. */
    public static void rmsNorm(Tensor x, Tensor w, float eps, Tensor y, Tensor invRms) {
        Device d = Check.device(x, "x", DType.F32);
        long m = rows(x, "x"), dim = x.dim(-1);
        Check.shape(Check.on(d, w, "norm weight", DType.F32), "norm weight", dim);
        sameShape(y, x, "y");
        if (invRms != null) Check.shape(Check.on(d, invRms, "invRms", DType.F32), "invRms", m);
        MemorySegment inv = optional(invRms);
        Backend.of(d).rmsnorm(x.segment(), w.segment(), m, dim, eps, y.segment(), inv);
    }

    /** Rotates x [m, heads * headDim] in place; row r has position pos0 + r % period. */
    public static void rope(Tensor x, int heads, long pos0, long period, float theta) {
        Device d = Check.device(x, "x", DType.F32);
        long m = rows(x, "x"), hd = headDim(x.dim(-1), heads);
        Backend.of(d).rope(x.segment(), m, heads, hd, pos0, period, theta);
    }

    /** The gradient of {@link #rope}, in place. */
    public static void ropeBackward(Tensor dx, int heads, long pos0, long period, float theta) {
        Device d = Check.device(dx, "dx", DType.F32);
        long m = rows(dx, "dx"), hd = headDim(dx.dim(-1), heads);
        Backend.of(d).ropeBackward(dx.segment(), m, heads, hd, pos0, period, theta);
    }

    private static long headDim(long width, int heads) {
        if (heads <= 0 || width % heads != 0 || (width / heads) % 2 != 0)
            throw new LowbitException(
                    "rope: " + width + " features do not split into " + heads + " heads of even size");
        return width / heads;
    }

    /**
     * Causal attention of q [m, heads * hd] at positions pos0 .. pos0 + m - 1 over keys and values
     * [T, kvHeads * hd] (T >= pos0 + m) into out [m, heads * hd].
     */
    public static void attention(Tensor q, Tensor k, Tensor v, long pos0, int heads, int kvHeads, Tensor out) {
        Device d = Check.device(q, "q", DType.F32);
        long m = rows(q, "q"), width = q.dim(-1);
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || width % heads != 0)
            throw new LowbitException("attention: " + heads + " heads / " + kvHeads + " key-value heads do not fit "
                    + width + " features");
        long hd = width / heads, kvWidth = kvHeads * hd;
        for (Tensor t : new Tensor[] {k, v}) {
            Check.on(d, t, "key/value cache", DType.F32);
            long cached = rows(t, "key/value cache");
            if (t.dim(-1) != kvWidth || cached < pos0 + m)
                throw new LowbitException("attention: key/value cache " + Arrays.toString(t.shape()) + " must be [>= "
                        + (pos0 + m) + ", " + kvWidth + "]");
        }
        sameShape(out, q, "out");
        Backend.of(d).attention(q.segment(), k.segment(), v.segment(), m, pos0, heads, kvHeads, hd, out.segment());
    }

    /**
     * Causal attention within each of {@code batch} sequences of {@code t} rows: q [batch*t,
     * heads*hd], k and v [batch*t, kvHeads*hd] -> out; probs [batch, heads, t, t] (may be null)
     * keeps the softmax weights for {@link #attentionBackward}.
     */
    public static void attentionTrain(
            Tensor q, Tensor k, Tensor v, int batch, int t, int heads, int kvHeads, Tensor out, Tensor probs) {
        Device d = Check.device(q, "q", DType.F32);
        long hd = attentionShapes(d, q, k, v, batch, t, heads, kvHeads);
        sameShape(out, q, "out");
        if (probs != null) Check.shape(Check.on(d, probs, "probs", DType.F32), "probs", batch, heads, t, t);
        Backend.of(d)
                .attentionTrain(
                        q.segment(),
                        k.segment(),
                        v.segment(),
                        batch,
                        t,
                        heads,
                        kvHeads,
                        hd,
                        out.segment(),
                        optional(probs));
    }

    /** dq, dk, dv (overwritten) of {@link #attentionTrain} from dout and the saved probs. */
    public static void attentionBackward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor probs,
            Tensor dout,
            int batch,
            int t,
            int heads,
            int kvHeads,
            Tensor dq,
            Tensor dk,
            Tensor dv) {
        Device d = Check.device(q, "q", DType.F32);
        long hd = attentionShapes(d, q, k, v, batch, t, heads, kvHeads);
        Check.shape(Check.on(d, probs, "probs", DType.F32), "probs", batch, heads, t, t);
        sameShape(dout, q, "dout");
        sameShape(dq, q, "dq");
        sameShape(dk, k, "dk");
        sameShape(dv, v, "dv");
        Backend.of(d)
                .attentionBackward(
                        q.segment(),
                        k.segment(),
                        v.segment(),
                        probs.segment(),
                        dout.segment(),
                        batch,
                        t,
                        heads,
                        kvHeads,
                        hd,
                        dq.segment(),
                        dk.segment(),
                        dv.segment());
    }

    private static long attentionShapes(
            Device d, Tensor q, Tensor k, Tensor v, int batch, int t, int heads, int kvHeads) {
        long m = rows(q, "q"), width = q.dim(-1);
        if (batch <= 0 || t <= 0 || m != (long) batch * t)
            throw new LowbitException("attention: q has " + m + " rows, not " + batch + " sequences of " + t);
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || width % heads != 0)
            throw new LowbitException("attention: " + heads + " heads / " + kvHeads + " key-value heads do not fit "
                    + width + " features");
        long hd = width / heads;
        Check.shape(Check.on(d, k, "k", DType.F32), "k", m, kvHeads * hd);
        Check.shape(Check.on(d, v, "v", DType.F32), "v", m, kvHeads * hd);
        return hd;
    }

    /** out = silu(gate) * up; out may be gate or up. */
    public static void siluGate(Tensor gate, Tensor up, Tensor out) {
        Device d = Check.device(gate, "gate", DType.F32);
        rows(gate, "gate");
        sameShape(up, gate, "up");
        sameShape(out, gate, "out");
        Backend.of(d).siluGate(gate.segment(), up.segment(), gate.numel(), out.segment());
    }

    /** acc += x, element-wise (same shape; the residual connections). */
    public static void addInto(Tensor x, Tensor acc) {
        Device d = Check.device(acc, "acc", DType.F32);
        sameShape(x, acc, "x");
        Backend.of(d).addInto(x.segment(), acc.numel(), acc.segment());
    }

    /** dgate and dup (overwritten) of {@link #siluGate}; they may be dout. */
    public static void siluGateBackward(Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        Device d = Check.device(gate, "gate", DType.F32);
        rows(gate, "gate");
        for (Tensor t : new Tensor[] {up, dout, dgate, dup}) sameShape(t, gate, "gradient");
        Backend.of(d)
                .siluGateBackward(
                        gate.segment(), up.segment(), dout.segment(), gate.numel(), dgate.segment(), dup.segment());
    }

    /** out = log softmax of each row of x; out may be x. */
    public static void logSoftmax(Tensor x, Tensor out) {
        Device d = Check.device(x, "x", DType.F32);
        long m = rows(x, "x");
        sameShape(out, x, "out");
        Backend.of(d).logSoftmax(x.segment(), m, x.dim(-1), out.segment());
    }

    /** losses [m] = -log softmax(logits)[target] per row; targets I32 [m]. */
    public static void crossEntropy(Tensor logits, Tensor targets, Tensor losses) {
        Device d = Check.device(logits, "logits", DType.F32);
        long m = rows(logits, "logits");
        Check.shape(Check.on(d, targets, "targets", DType.I32), "targets", m);
        Check.shape(Check.on(d, losses, "losses", DType.F32), "losses", m);
        Backend.of(d).crossEntropy(logits.segment(), targets.segment(), m, logits.dim(-1), losses.segment());
    }

    /** dlogits = scale * (softmax(logits) - onehot(targets)); dlogits may be logits. */
    public static void crossEntropyBackward(Tensor logits, Tensor targets, float scale, Tensor dlogits) {
        Device d = Check.device(logits, "logits", DType.F32);
        long m = rows(logits, "logits");
        Check.shape(Check.on(d, targets, "targets", DType.I32), "targets", m);
        sameShape(dlogits, logits, "dlogits");
        Backend.of(d)
                .crossEntropyBackward(logits.segment(), targets.segment(), m, logits.dim(-1), scale, dlogits.segment());
    }

    /** dx (overwritten) and dw (accumulated) of {@link #rmsNorm} from its input, weight, saved invRms and dy. */
    public static void rmsNormBackward(Tensor x, Tensor w, Tensor invRms, Tensor dy, Tensor dx, Tensor dw) {
        Device d = Check.device(x, "x", DType.F32);
        long m = rows(x, "x"), dim = x.dim(-1);
        Check.shape(Check.on(d, w, "norm weight", DType.F32), "norm weight", dim);
        Check.shape(Check.on(d, invRms, "invRms", DType.F32), "invRms", m);
        sameShape(dy, x, "dy");
        sameShape(dx, x, "dx");
        Check.shape(Check.on(d, dw, "dw", DType.F32), "dw", dim);
        Backend.of(d)
                .rmsnormBackward(
                        x.segment(), w.segment(), invRms.segment(), dy.segment(), m, dim, dx.segment(), dw.segment());
    }

    private static long rows(Tensor t, String name) {
        if (t.rank() == 1) return 1;
        if (t.rank() != 2) throw new LowbitException(name + " must be [rows, features], got rank " + t.rank());
        return t.dim(0);
    }

    private static void sameShape(Tensor t, Tensor like, String name) {
        Check.shape(Check.on(like.device(), t, name, DType.F32), name, like.shape());
    }
}
