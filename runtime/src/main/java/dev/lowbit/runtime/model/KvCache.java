package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.HostMemory;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/** Keys and values of the positions seen so far, per layer [maxSeqLen, kvDim]; one per sequence being decoded. */
public final class KvCache extends SequenceKv {
    private final Tensor[] keys;
    private final Tensor[] values;
    private final int kvDim;
    private final int capacity;
    private int length;

    public KvCache(Arena arena, LlamaConfig config) {
        this(arena, config, Device.CPU);
    }

    /** A cache in device memory, for a model on device, holding the model's whole context. */
    public KvCache(Arena arena, LlamaConfig config, Device device) {
        this(arena, config, device, config.maxSeqLen());
    }

    /** A cache for the first capacity positions (1 to the model's context): what a sequence of known length needs. */
    public KvCache(Arena arena, LlamaConfig config, Device device, int capacity) {
        if (capacity < 1 || capacity > config.maxSeqLen())
            throw new LowbitException(
                    "a KV cache holds 1 to " + config.maxSeqLen() + " positions (the context), got " + capacity);
        this.kvDim = config.kvDim();
        this.capacity = capacity;
        if (device.kind() == Device.Kind.CPU)
            HostMemory.require(
                    "the KV cache of " + String.format("%,d", capacity) + " positions",
                    HostMemory.product(2, config.layers(), capacity, kvDim, Float.BYTES),
                    "lower the model's context (max_position_embeddings in config.json, seq_len of a llama2.c .bin)");
        this.keys = new Tensor[config.layers()];
        this.values = new Tensor[config.layers()];
        for (int l = 0; l < config.layers(); l++) {
            keys[l] = Tensor.allocate(arena, device, DType.F32, capacity, kvDim);
            values[l] = Tensor.allocate(arena, device, DType.F32, capacity, kvDim);
        }
    }

    /** Positions cached so far: the next token's position. */
    @Override
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    /** Forgets every position, keeping the memory. */
    public void clear() {
        length = 0;
    }

    @Override
    void checkRoom(long m) {
        if (length + m > capacity)
            throw new LowbitException("sequence of " + (length + m) + " tokens exceeds the context of " + capacity);
    }

    @Override
    void store(int layer, Tensor k, Tensor v) {
        long m = k.dim(0);
        checkRoom(m);
        keys[layer].rows(length, m).copyFrom(k);
        values[layer].rows(length, m).copyFrom(v);
    }

    /** Keys of layer, rows [0, capacity): the cache itself, no gather. */
    @Override
    Tensor keys(int layer, int upTo, Tensor scratch) {
        return keys[layer];
    }

    @Override
    Tensor values(int layer, int upTo, Tensor scratch) {
        return values[layer];
    }

    @Override
    void advance(int m) {
        length += m;
    }
}
