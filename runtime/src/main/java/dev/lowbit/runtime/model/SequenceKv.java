package dev.lowbit.runtime.model;

import dev.lowbit.runtime.tensor.Tensor;

/**
 * The keys and values one sequence has cached, as a forward pass reads and writes them: a
 * contiguous {@link KvCache} or a {@link PagedKvCache} of pool blocks.
 */
abstract sealed class SequenceKv permits KvCache, PagedKvCache {
    /** Positions cached so far: the next token's position. */
    abstract int length();

    /** Room for m more positions, or an error saying the sequence exceeds its capacity. */
    abstract void checkRoom(long m);

    /** Stores k and v [m, kvDim] of layer at positions length() .. length() + m - 1. */
    abstract void store(int layer, Tensor k, Tensor v);

    /** Keys of layer at positions [0, upTo) as fp32 [>= upTo, kvDim]: the cache's own, or gathered into scratch. */
    abstract Tensor keys(int layer, int upTo, Tensor scratch);

    abstract Tensor values(int layer, int upTo, Tensor scratch);

    abstract void advance(int m);
}
