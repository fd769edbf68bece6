package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.HostMemory;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The key/value memory of many sequences as vLLM's PagedAttention keeps it: fixed blocks of
 * blockSize positions (all layers' keys and values of those positions), handed out from a free
 * list to {@link PagedKvCache}s, each with its own block table. Sized by a byte budget. Used by
 * one thread (the scheduler's); {@link #freeBlocks()} may be read from any.
 */
public final class KvBlockPool {
    /** Positions per block, as vLLM's default. */
    public static final int BLOCK_SIZE = 16;

    private final KvDtype dtype;
    private final int blockSize, blocks, kvHeads, kvDim, maxSeqLen;
    private final Tensor[] keys, values; // per layer [blocks * blockSize, kvDim], stored as dtype
    private final Tensor[] keyScales, valueScales; // INT8 only: per layer [blocks * blockSize, kvHeads] fp32
    private final int[] freeList;
    private volatile int free;

    /** As many blocks of {@link #BLOCK_SIZE} as memoryBytes holds, on device (fp32 only off the host). */
    public KvBlockPool(Arena arena, LlamaConfig config, Device device, KvDtype dtype, long memoryBytes) {
        this.dtype = dtype;
        this.blockSize = BLOCK_SIZE;
        this.kvHeads = config.kvHeads();
        this.kvDim = config.kvDim();
        this.maxSeqLen = config.maxSeqLen();
        if (device.kind() != Device.Kind.CPU && dtype != KvDtype.F32)
            throw new LowbitException("a " + dtype + " KV cache is host-only for now; use kv dtype F32 on " + device);
        long perBlock = bytesPerBlock(config, dtype);
        if (memoryBytes < perBlock)
            throw new LowbitException(String.format(
                    "a KV memory of %,d bytes holds no block: give at least %,d (one block of %d positions)",
                    memoryBytes, perBlock, blockSize));
        long count = memoryBytes / perBlock;
        if (count * blockSize > Integer.MAX_VALUE)
            throw new LowbitException("a KV memory of " + memoryBytes + " bytes is too large: give less");
        this.blocks = (int) count;
        if (device.kind() == Device.Kind.CPU)
            HostMemory.require(
                    "the KV block pool", count * perBlock, "give a smaller KV memory budget (kvMemory, --kv-memory)");
        int layers = config.layers();
        long rows = count * blockSize;
        keys = new Tensor[layers];
        values = new Tensor[layers];
        keyScales = dtype == KvDtype.INT8 ? new Tensor[layers] : null;
        valueScales = dtype == KvDtype.INT8 ? new Tensor[layers] : null;
        for (int l = 0; l < layers; l++) {
            keys[l] = Tensor.allocate(arena, device, dtype.stored(), rows, kvDim);
            values[l] = Tensor.allocate(arena, device, dtype.stored(), rows, kvDim);
            if (keyScales != null) {
                keyScales[l] = Tensor.allocate(arena, device, DType.F32, rows, kvHeads);
                valueScales[l] = Tensor.allocate(arena, device, DType.F32, rows, kvHeads);
            }
        }
        freeList = new int[blocks];
        for (int b = 0; b < blocks; b++) freeList[b] = blocks - 1 - b; // block 0 handed out first
        free = blocks;
    }

    /** Bytes one block takes: keys and values of every layer, with their scales for INT8. */
    public static long bytesPerBlock(LlamaConfig config, KvDtype dtype) {
        return 2L * config.layers() * BLOCK_SIZE * dtype.bytesPerRow(config.kvHeads(), config.kvDim());
    }

    public KvDtype dtype() {
        return dtype;
    }

    public int blockSize() {
        return blockSize;
    }

    public int totalBlocks() {
        return blocks;
    }

    public int freeBlocks() {
        return free;
    }

    /** Blocks a sequence of positions needs. */
    public int blocksFor(int positions) {
        return (positions + blockSize - 1) / blockSize;
    }

    /**
     * A cache for one sequence of up to positions (1 to the context), its blocks taken now: reserved
     * for its whole length, so it never runs out mid-generation.
     */
    public PagedKvCache allocate(int positions) {
        if (positions < 1 || positions > maxSeqLen)
            throw new LowbitException(
                    "a sequence holds 1 to " + maxSeqLen + " positions (the context), got " + positions);
        int n = blocksFor(positions);
        if (n > free)
            throw new LowbitException("the KV pool has " + free + " free blocks, a sequence of " + positions
                    + " positions needs " + n + ": wait for others to finish or give more KV memory");
        int[] table = new int[n];
        int top = free;
        for (int i = 0; i < n; i++) table[i] = freeList[--top];
        free = top;
        return new PagedKvCache(this, table, positions);
    }

    void release(int[] table) {
        int top = free;
        for (int b : table) freeList[top++] = b;
        free = top;
    }

    /** Stores rows [0, m) of k and v at positions pos0 .. pos0 + m - 1 of the sequence with this block table. */
    void store(int layer, int[] table, int pos0, Tensor k, Tensor v) {
        write(keys[layer], keyScales == null ? null : keyScales[layer], table, pos0, k);
        write(values[layer], valueScales == null ? null : valueScales[layer], table, pos0, v);
    }

    /** Keys (or values) of positions [0, upTo) of the sequence with this table, widened to fp32 into rows [0, upTo) of into. */
    void gather(boolean ofValues, int layer, int[] table, int upTo, Tensor into) {
        Tensor stored = ofValues ? values[layer] : keys[layer];
        Tensor[] scales = ofValues ? valueScales : keyScales;
        for (int pos = 0; pos < upTo; pos += blockSize) {
            int n = Math.min(blockSize, upTo - pos);
            Tensor src = stored.rows((long) table[pos / blockSize] * blockSize, n), dst = into.rows(pos, n);
            switch (dtype) {
                case F32 -> dst.copyFrom(src);
                case F16, BF16 -> Kernels.widen(src, dst);
                case INT8 -> dequantize(src, scales[layer].rows((long) table[pos / blockSize] * blockSize, n), dst);
            }
        }
    }

    private void write(Tensor stored, Tensor scales, int[] table, int pos0, Tensor x) {
        int m = (int) x.dim(0);
        for (int r = 0; r < m; r++) {
            int pos = pos0 + r;
            long row = (long) table[pos / blockSize] * blockSize + pos % blockSize;
            Tensor src = x.rows(r, 1), dst = stored.rows(row, 1);
            switch (dtype) {
                case F32 -> dst.copyFrom(src);
                case F16, BF16 -> narrow(src.segment(), dst.segment());
                case INT8 ->
                    quantize(src.segment(), dst.segment(), scales.rows(row, 1).segment());
            }
        }
    }

    private void narrow(MemorySegment src, MemorySegment dst) {
        for (int i = 0; i < kvDim; i++) {
            float v = src.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            dst.setAtIndex(ValueLayout.JAVA_SHORT, i, dtype == KvDtype.F16 ? Float.floatToFloat16(v) : Tensor.bf16(v));
        }
    }

    /** Symmetric int8 per head: code = round(x / s), s = max |x| / 127 over the head's features. */
    private void quantize(MemorySegment src, MemorySegment codes, MemorySegment scales) {
        int hd = kvDim / kvHeads;
        for (int h = 0; h < kvHeads; h++) {
            float amax = 0;
            for (int i = h * hd; i < (h + 1) * hd; i++)
                amax = Math.max(amax, Math.abs(src.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
            float s = amax / 127f, inv = amax == 0 ? 0 : 127f / amax;
            scales.setAtIndex(ValueLayout.JAVA_FLOAT, h, s);
            for (int i = h * hd; i < (h + 1) * hd; i++)
                codes.set(ValueLayout.JAVA_BYTE, i, (byte) Math.round(src.getAtIndex(ValueLayout.JAVA_FLOAT, i) * inv));
        }
    }

    private void dequantize(Tensor codes, Tensor scales, Tensor out) {
        int hd = kvDim / kvHeads;
        MemorySegment c = codes.segment(), s = scales.segment(), o = out.segment();
        long rows = codes.dim(0);
        for (long r = 0; r < rows; r++)
            for (int h = 0; h < kvHeads; h++) {
                float scale = s.getAtIndex(ValueLayout.JAVA_FLOAT, r * kvHeads + h);
                for (long i = r * kvDim + (long) h * hd, end = i + hd; i < end; i++)
                    o.setAtIndex(ValueLayout.JAVA_FLOAT, i, scale * c.get(ValueLayout.JAVA_BYTE, i));
            }
    }
}
