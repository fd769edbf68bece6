package dev.lowbit.runtime;

import static dev.lowbit.runtime.Native.check;

import dev.lowbit.bindings.lowbit.lowbit_h;
import java.lang.foreign.MemorySegment;

/**
 * The element-wise and attention operations of the transformer (RMSNorm, rotary embedding,
 * grouped-query attention, SiLU gate, log-softmax, cross-entropy), validated on the Java side and
 * run by liblowbit. Activations are fp32 [rows, features] tensors; heads are laid out
 * [rows, heads * head_dim].
 */
public final class NnKernels {
    static {
        Native.ensureLoaded();
    }

    private NnKernels() {}

    /** y = x * w / rms(x) per row; invRms [m] (may be null) receives 1 / rms. y may be x. */
    public static void rmsNorm(Tensor x, Tensor w, float eps, Tensor y, Tensor invRms) {
        long m = rows(x, "x"), d = x.dim(-1);
        Check.shape(Check.hostTensor(w, "norm weight", DType.F32), "norm weight", d);
        sameShape(y, x, "y");
        if (invRms != null) Check.shape(Check.hostTensor(invRms, "invRms", DType.F32), "invRms", m);
        check(lowbit_h.lb_cpu_rmsnorm(x.segment(), w.segment(), m, d, eps, y.segment(),
                invRms == null ? MemorySegment.NULL : invRms.segment()), "RMSNorm");
    }

    /** Rotates x [m, heads * headDim] in place; row r has position pos0 + r % period. */
    public static void rope(Tensor x, int heads, long pos0, long period, float theta) {
        long m = rows(x, "x"), width = x.dim(-1);
        if (heads <= 0 || width % heads != 0 || (width / heads) % 2 != 0)
            throw new LowbitException("rope: " + width + " features do not split into " + heads + " heads of even size");
        check(lowbit_h.lb_cpu_rope(x.segment(), m, heads, width / heads, pos0, period, theta), "RoPE");
    }

    /**
     * Causal attention of q [m, heads * hd] at positions pos0 .. pos0 + m - 1 over keys and values
     * [T, kvHeads * hd] (T >= pos0 + m) into out [m, heads * hd].
     */
    public static void attention(Tensor q, Tensor k, Tensor v, long pos0, int heads, int kvHeads, Tensor out) {
        long m = rows(q, "q"), width = q.dim(-1);
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || width % heads != 0)
            throw new LowbitException("attention: " + heads + " heads / " + kvHeads + " key-value heads do not fit " + width + " features");
        long hd = width / heads, kvWidth = kvHeads * hd;
        for (Tensor t : new Tensor[] {k, v}) {
            long cached = rows(t, "key/value cache");
            if (t.dim(-1) != kvWidth || cached < pos0 + m)
                throw new LowbitException("attention: key/value cache " + java.util.Arrays.toString(t.shape()) + " must be [>= "
                        + (pos0 + m) + ", " + kvWidth + "]");
        }
        sameShape(out, q, "out");
        check(lowbit_h.lb_cpu_attention(q.segment(), k.segment(), v.segment(), m, pos0, heads, kvHeads, hd, out.segment()),
                "attention");
    }

    /** out = silu(gate) * up; out may be gate or up. */
    public static void siluGate(Tensor gate, Tensor up, Tensor out) {
        rows(gate, "gate");
        sameShape(up, gate, "up");
        sameShape(out, gate, "out");
        check(lowbit_h.lb_cpu_silu_gate(gate.segment(), up.segment(), gate.numel(), out.segment()), "SiLU gate");
    }

    /** out = log softmax of each row of x; out may be x. */
    public static void logSoftmax(Tensor x, Tensor out) {
        long m = rows(x, "x");
        sameShape(out, x, "out");
        check(lowbit_h.lb_cpu_log_softmax(x.segment(), m, x.dim(-1), out.segment()), "log-softmax");
    }

    /** losses [m] = -log softmax(logits)[target] per row; targets I32 [m]. */
    public static void crossEntropy(Tensor logits, Tensor targets, Tensor losses) {
        long m = rows(logits, "logits");
        Check.shape(Check.hostTensor(targets, "targets", DType.I32), "targets", m);
        Check.shape(Check.hostTensor(losses, "losses", DType.F32), "losses", m);
        check(lowbit_h.lb_cpu_cross_entropy(logits.segment(), targets.segment(), m, logits.dim(-1), losses.segment()),
                "cross-entropy");
    }

    private static long rows(Tensor t, String name) {
        Check.hostTensor(t, name, DType.F32);
        if (t.rank() == 1) return 1;
        if (t.rank() != 2) throw new LowbitException(name + " must be [rows, features], got rank " + t.rank());
        return t.dim(0);
    }

    private static void sameShape(Tensor t, Tensor like, String name) {
        Check.shape(Check.hostTensor(t, name, DType.F32), name, like.shape());
    }
}
