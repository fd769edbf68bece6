package dev.lowbit.runtime.model;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * What a forward pass of up to rows() tokens writes besides the KV cache: the residual stream x, the
 * normed input xb, queries, keys, values, the attention output, the two SwiGLU halves, the logits,
 * and the linears' scratch. Allocated once per sequence ({@link DecodeState}) or per call.
 */
record Activations(
        Tensor x,
        Tensor xb,
        Tensor q,
        Tensor k,
        Tensor v,
        Tensor att,
        Tensor h1,
        Tensor h3,
        Tensor logits,
        LinearScratch scratch) {
    static Activations allocate(Arena arena, LlamaModel model, int rows) {
        LlamaConfig c = model.config();
        Device d = model.device();
        return new Activations(
                f32(arena, d, rows, c.dim()),
                f32(arena, d, rows, c.dim()),
                f32(arena, d, rows, c.dim()),
                f32(arena, d, rows, c.kvDim()),
                f32(arena, d, rows, c.kvDim()),
                f32(arena, d, rows, c.dim()),
                f32(arena, d, rows, c.hiddenDim()),
                f32(arena, d, rows, c.hiddenDim()),
                f32(arena, d, rows, c.vocabSize()),
                LinearScratch.of(arena, d, rows, model.allLinears()));
    }

    private static Tensor f32(Arena arena, Device d, int rows, int cols) {
        return Tensor.allocate(arena, d, DType.F32, rows, cols);
    }

    int rows() {
        return (int) x.dim(0);
    }

    /** Views of the first m rows (the scratch is shared). */
    Activations first(int m) {
        if (m == rows()) return this;
        return new Activations(
                x.rows(0, m),
                xb.rows(0, m),
                q.rows(0, m),
                k.rows(0, m),
                v.rows(0, m),
                att.rows(0, m),
                h1.rows(0, m),
                h3.rows(0, m),
                logits.rows(0, m),
                scratch);
    }
}
