package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Tensor;

/**
 * One sequence's keys and values in blocks of a {@link KvBlockPool}: its block table maps position
 * p to slot p % blockSize of block table[p / blockSize]. Its blocks go back to the pool with {@link #free()}.
 */
public final class PagedKvCache extends SequenceKv {
    private final KvBlockPool pool;
    private final int capacity;
    private int[] table; // null once freed
    private int length;

    PagedKvCache(KvBlockPool pool, int[] table, int capacity) {
        this.pool = pool;
        this.table = table;
        this.capacity = capacity;
    }

    @Override
    public int length() {
        return length;
    }

    /** The most positions this sequence holds (what its blocks were reserved for). */
    public int capacity() {
        return capacity;
    }

    /** Blocks held: 0 once freed. */
    public int blocks() {
        return table == null ? 0 : table.length;
    }

    /** Gives the blocks back to the pool; idempotent. */
    public void free() {
        if (table == null) return;
        pool.release(table);
        table = null;
    }

    @Override
    void checkRoom(long m) {
        if (table == null) throw new LowbitException("this sequence's KV cache was freed");
        if (length + m > capacity)
            throw new LowbitException("sequence of " + (length + m) + " tokens exceeds its reserved " + capacity);
    }

    @Override
    void store(int layer, Tensor k, Tensor v) {
        checkRoom(k.dim(0));
        pool.store(layer, table, length, k, v);
    }

    @Override
    Tensor keys(int layer, int upTo, Tensor scratch) {
        pool.gather(false, layer, table, upTo, scratch);
        return scratch;
    }

    @Override
    Tensor values(int layer, int upTo, Tensor scratch) {
        pool.gather(true, layer, table, upTo, scratch);
        return scratch;
    }

    @Override
    void advance(int m) {
        length += m;
    }
}
