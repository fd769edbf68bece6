package dev.lowbit.runtime.train;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * AdamW (decoupled weight decay, bias-corrected moments) over a flat parameter buffer described by
 * slots, with global-norm gradient clipping. Weight decay applies to the slots marked for it.
 */
public final class AdamW {
    private final Tensor params;
    private final List<LlamaParameters.Slot> slots;
    private final Tensor m;
    private final Tensor v;
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private long step;

    public AdamW(
            LlamaParameters params,
            LlamaParameters m,
            LlamaParameters v,
            float beta1,
            float beta2,
            float eps,
            float weightDecay) {
        this(params.flat(), params.slots(), m.flat(), v.flat(), beta1, beta2, eps, weightDecay);
    }

    /** Over any flat fp32 buffer; m and v are zeroed buffers of the same size for the moments. */
    public AdamW(
            Tensor params,
            List<LlamaParameters.Slot> slots,
            Tensor m,
            Tensor v,
            float beta1,
            float beta2,
            float eps,
            float weightDecay) {
        this.params = params;
        this.slots = slots;
        this.m = m;
        this.v = v;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    public long step() {
        return step;
    }

    /** For resuming: the number of steps already taken (bias correction depends on it). */
    public void setStep(long step) {
        this.step = step;
    }

    /** L2 norm of the whole gradient. */
    public static double norm(Tensor flat) {
        MemorySegment s = flat.segment();
        double ss = 0;
        for (long i = 0; i < flat.numel(); i++) {
            double x = s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            ss += x * x;
        }
        return Math.sqrt(ss);
    }

    /**
     * One update with learning rate lr from the gradients in grads; gradients whose global norm
     * exceeds clip (if clip > 0) are scaled down to it. Returns the norm before clipping.
     */
    public double update(LlamaParameters grads, float lr, float clip) {
        return update(grads.flat(), lr, clip);
    }

    /** As {@link #update(LlamaParameters, float, float)} for gradients in a flat buffer laid out like the parameters. */
    public double update(Tensor grads, float lr, float clip) {
        double norm = norm(grads);
        if (!Double.isFinite(norm)) throw new LowbitException("gradient norm is " + norm + "; lower the learning rate");
        float scale = clip > 0 && norm > clip ? (float) (clip / norm) : 1f;
        step++;
        double c1 = 1 - Math.pow(beta1, step), c2 = 1 - Math.pow(beta2, step);
        MemorySegment p = params.segment(), g = grads.segment(), ms = m.segment(), vs = v.segment();
        for (LlamaParameters.Slot slot : slots) {
            float decay = slot.decay() ? weightDecay : 0f;
            for (long i = slot.offset(); i < slot.offset() + slot.numel(); i++) {
                float gi = g.getAtIndex(ValueLayout.JAVA_FLOAT, i) * scale;
                float mi = beta1 * ms.getAtIndex(ValueLayout.JAVA_FLOAT, i) + (1 - beta1) * gi;
                float vi = beta2 * vs.getAtIndex(ValueLayout.JAVA_FLOAT, i) + (1 - beta2) * gi * gi;
                ms.setAtIndex(ValueLayout.JAVA_FLOAT, i, mi);
                vs.setAtIndex(ValueLayout.JAVA_FLOAT, i, vi);
                float pi = p.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                double update = (mi / c1) / (Math.sqrt(vi / c2) + eps) + decay * pi;
                p.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (pi - lr * update));
            }
        }
        return norm;
    }
}
