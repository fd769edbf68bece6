package dev.lowbit.runtime.io;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsStreamWriter.Entry;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a {@link QuantizedCheckpoint} while the model is quantized, block by block: the layout
 * (every tensor's name, dtype, shape and file, sharded as Hugging Face shards) follows from the
 * config and the {@link QuantSpec}s alone (the blocks', and the output head's when it is quantized), so the headers are written first and each linear's codes,
 * scales and zeros go to their place as soon as they exist, then are dropped. Memory holds one
 * linear at a time, whatever the model's size. The files are written into a folder the caller
 * moves into place when all is done (an {@link OutputFolder}'s staging).
 */
public final class QuantizedCheckpointWriter implements AutoCloseable {
    /** Hugging Face's default max_shard_size. */
    public static final long DEFAULT_SHARD_BYTES = 5_000_000_000L;

    private static final long WRITE_CHUNK = 1L << 30;
    private static final String HEAD = "lm_head.weight";

    private record Place(FileChannel file, long offset, long bytes) {}

    private final Map<String, Place> places = new HashMap<>();
    private final List<FileChannel> files = new ArrayList<>();
    private final long totalBytes;
    private long written;

    /**
     * Plans the files for weights quantized as spec into dir (checking the free space first) and
     * writes their headers and config.json; scaleType is the scales' and zeros' dtype.
     */
    public QuantizedCheckpointWriter(
            LlamaWeights weights,
            QuantSpec spec,
            int activationBits,
            int qkvBits,
            QuantSpec headSpec,
            Path dir,
            Map<String, String> metadata,
            long maxShardBytes) {
        LlamaConfig c = weights.config();
        List<Entry> stateDict = new ArrayList<>();
        weights.named().forEach((name, t) -> {
            if (Projection.ofWeightName(name) != null)
                addLinear(stateDict, name, t, spec, Linear.ActQuantized.integerKernel(spec.bits(), activationBits));
            else if (!(headSpec != null && name.equals(HEAD))) stateDict.add(new Entry(name, t.dtype(), t.shape()));
        });
        if (headSpec != null) addLinear(stateDict, HEAD, weights.output(), headSpec, false);
        ShardPlan plan = ShardPlan.split(stateDict, maxShardBytes);
        Map<String, String> meta = new TreeMap<>(metadata); // sorted: the same bytes on every run (Map.of has no order)
        meta.put("format", "lowbit");
        long total = 0;
        List<List<Entry>> shards = new ArrayList<>();
        for (List<Entry> shard : plan.shards()) {
            // widest element first: every tensor stays aligned to its element size in the mapped file
            List<Entry> laidOut = shard.stream()
                    .sorted(Comparator.comparingInt((Entry e) -> e.dtype().bits())
                            .reversed())
                    .toList();
            shards.add(laidOut);
            total += SafetensorsStreamWriter.size(meta, laidOut);
        }
        this.totalBytes = total;
        DiskSpace.check(dir, total, "the quantized model");
        try {
            for (int i = 0; i < shards.size(); i++) {
                FileChannel ch = FileChannel.open(
                        dir.resolve(plan.fileName(i)), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                files.add(ch);
                byte[] header = SafetensorsStreamWriter.header(meta, shards.get(i));
                writeAt(ch, ByteBuffer.wrap(header), 0);
                long offset = header.length;
                for (Entry e : shards.get(i)) {
                    places.put(e.name(), new Place(ch, offset, e.bytes()));
                    offset += e.bytes();
                }
                written += header.length;
            }
            if (shards.size() > 1)
                SyntheticCheckpoint.writeJson(dir.resolve("model.safetensors.index.json"), plan.index());
        } catch (IOException e) {
            close();
            throw new CheckpointException("cannot write the quantized model into " + dir + ": " + e.getMessage(), e);
        }
        QuantizedCheckpoint.writeConfig(
                c,
                dir,
                spec.bits(),
                spec.groupSize() == QuantSpec.PER_CHANNEL ? -1 : spec.groupSize(),
                spec.scaleType(),
                activationBits,
                qkvBits,
                headSpec == null ? 16 : headSpec.bits());
    }

    /** Plans a quantized linear stored as name (….weight) with weights w's shape. */
    private static void addLinear(List<Entry> stateDict, String name, Tensor w, QuantSpec spec, boolean codeSums) {
        String base = name.substring(0, name.length() - ".weight".length());
        long n = w.dim(0), k = w.dim(1), groups = k / spec.groupSizeFor(k);
        stateDict.add(new Entry(
                base + ".qweight", DType.I32, new long[] {n, QuantizedTensor.wordsPerRow(k, spec.bits())}));
        stateDict.add(new Entry(base + ".scales", spec.scaleType(), new long[] {n, groups}));
        stateDict.add(new Entry(base + ".zeros", spec.scaleType(), new long[] {n, groups}));
        if (codeSums) stateDict.add(new Entry(base + ".code_sums", DType.I32, new long[] {n, groups}));
    }

    /** Bytes of all files (headers included). */
    public long totalBytes() {
        return totalBytes;
    }

    /** Bytes written so far. */
    public long writtenBytes() {
        return written;
    }

    /** Writes a tensor that is not a block linear (embedding, norm, head) as it is. */
    public void put(String name, Tensor t) {
        write(name, t.segment().asSlice(0, t.numel() * t.dtype().byteSize()));
    }

    /**
     * Writes the quantized weights of the block linear stored as weightName (….weight), with the
     * integer kernel's code sums when the checkpoint has activation bits it runs (taken here).
     */
    public void putLinear(String weightName, QuantizedTensor q) {
        String base = weightName.substring(0, weightName.length() - ".weight".length());
        put(base + ".qweight", q.codes());
        put(base + ".scales", q.scales());
        put(base + ".zeros", q.zeros());
        if (places.containsKey(base + ".code_sums"))
            try (Arena arena = Arena.ofConfined()) {
                put(base + ".code_sums", Kernels.weightCodeSums(arena, q));
            }
    }

    private void write(String name, MemorySegment bytes) {
        Place p = places.remove(name);
        if (p == null)
            throw new LowbitException("tensor '" + name + "' is not in the planned checkpoint, or written twice");
        if (p.bytes() != bytes.byteSize())
            throw new LowbitException("tensor '" + name + "' has " + bytes.byteSize() + " bytes, planned " + p.bytes());
        try {
            for (long at = 0; at < bytes.byteSize(); at += WRITE_CHUNK)
                writeAt(
                        p.file(),
                        bytes.asSlice(at, Math.min(WRITE_CHUNK, bytes.byteSize() - at))
                                .asByteBuffer(),
                        p.offset() + at);
        } catch (IOException e) {
            throw new CheckpointException("cannot write tensor '" + name + "': " + e.getMessage(), e);
        }
        written += bytes.byteSize();
    }

    /** Checks that every planned tensor was written and flushes the files to disk. */
    public void finish() {
        if (!places.isEmpty())
            throw new LowbitException(places.size() + " tensors of the checkpoint were never written, e.g. '"
                    + places.keySet().iterator().next() + "'");
        try {
            for (FileChannel ch : files) ch.force(true);
        } catch (IOException e) {
            throw new CheckpointException("cannot flush the quantized model: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        for (FileChannel ch : files) {
            try {
                ch.close();
            } catch (IOException e) {
                // closing after a failure: the staging folder is removed anyway
            }
        }
    }

    private static void writeAt(FileChannel ch, ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) position += ch.write(b, position);
    }
}
