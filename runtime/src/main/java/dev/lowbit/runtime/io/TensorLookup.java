package dev.lowbit.runtime.io;

import dev.lowbit.runtime.tensor.Tensor;

/** Tensors by name: one safetensors file, or all shards of a checkpoint. */
public interface TensorLookup {
    /** The tensor named name; a CheckpointException naming the file when there is none. */
    Tensor tensor(String name);

    boolean contains(String name);
}
