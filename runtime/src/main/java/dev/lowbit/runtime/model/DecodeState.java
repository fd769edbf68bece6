package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * One sequence being decoded, as llama3.java's State: its KV cache and everything a forward pass
 * writes, allocated once on the model's device for up to maxRows tokens a pass (a longer prompt runs
 * in chunks of maxRows), and a host buffer for the last token's logits. Decoding a token through
 * {@link LlamaModel#forward(DecodeState, int[])} then allocates nothing. One state per sequence and
 * thread; the model's weights are shared.
 */
public final class DecodeState {
    private final LlamaModel model;
    private final KvCache cache;
    private final Activations buffers;
    private final HostRows hostLogits;
    private int lastRow = -1; // the row of the last forward's last token in buffers.logits()

    DecodeState(Arena arena, LlamaModel model, int maxRows, KvCache cache) {
        this.model = model;
        Device d = model.device();
        int vocab = model.config().vocabSize();
        this.cache = cache;
        this.buffers = Activations.allocate(arena, model, maxRows);
        this.hostLogits = new HostRows(arena, d, 1, vocab);
    }

    public KvCache cache() {
        return cache;
    }

    /** The most tokens one pass runs; a longer prompt runs in chunks of this many. */
    public int maxRows() {
        return buffers.rows();
    }

    /** Positions decoded so far. */
    public int length() {
        return cache.length();
    }

    /** Forgets the sequence, keeping the memory for the next one. */
    public void clear() {
        cache.clear();
        lastRow = -1;
    }

    LlamaModel model() {
        return model;
    }

    Activations buffers() {
        return buffers;
    }

    void ran(int rows) {
        lastRow = rows - 1;
    }

    /** The last forward's logits of its last token [1, vocab], a view on the model's device, valid until the next forward. */
    public Tensor logits() {
        if (lastRow < 0) throw new LowbitException("no tokens have run through this state yet");
        return buffers.logits().rows(lastRow, 1);
    }

    /**
     * {@link #logits()} on the host: this state's own array, overwritten by the next call. From a GPU
     * it waits for the queued work, then copies one row into the pinned buffer.
     */
    public float[] hostLogits() {
        return hostLogits.copy(logits());
    }
}
