package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * The buffers of a batched forward ({@link LlamaModel#forward(BatchState, java.util.List)}) over up
 * to maxSequences sequences and maxRows tokens in all, allocated once: the activations, fp32
 * scratch the paged keys and values of one sequence are gathered into, each sequence's last row
 * and its logits, and a host copy of those. One per scheduler thread; the model's weights are shared.
 */
public final class BatchState {
    private final LlamaModel model;
    private final Activations buffers;
    private final Tensor keys, values; // [context, kvDim]
    private final Tensor last; // [maxSequences, dim]
    private final Tensor logits; // [maxSequences, vocab]
    private final HostRows hostLogits;

    BatchState(Arena arena, LlamaModel model, int maxRows, int maxSequences) {
        LlamaConfig c = model.config();
        if (maxSequences < 1 || maxRows < maxSequences)
            throw new LowbitException("a batch runs 1 or more sequences and at least one token each, got "
                    + maxSequences + " sequences in " + maxRows + " tokens");
        Device d = model.device();
        this.model = model;
        this.buffers = Activations.allocate(arena, model, maxRows);
        this.keys = Tensor.allocate(arena, d, DType.F32, c.maxSeqLen(), c.kvDim());
        this.values = Tensor.allocate(arena, d, DType.F32, c.maxSeqLen(), c.kvDim());
        this.last = Tensor.allocate(arena, d, DType.F32, maxSequences, c.dim());
        this.logits = Tensor.allocate(arena, d, DType.F32, maxSequences, c.vocabSize());
        this.hostLogits = new HostRows(arena, d, maxSequences, c.vocabSize());
    }

    /** The most tokens (all sequences together) one forward runs. */
    public int maxRows() {
        return buffers.rows();
    }

    public int maxSequences() {
        return (int) last.dim(0);
    }

    /**
     * The last forward's logits on the host: row i (at i * vocab) is sequence i's last token's. This
     * state's own array, overwritten by the next call.
     */
    public float[] hostLogits(int sequences) {
        return hostLogits.copy(logits.rows(0, sequences));
    }

    LlamaModel model() {
        return model;
    }

    Activations buffers() {
        return buffers;
    }

    Tensor keys() {
        return keys;
    }

    Tensor values() {
        return values;
    }

    Tensor last() {
        return last;
    }

    Tensor logits() {
        return logits;
    }
}
