package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Writes one safetensors file whose tensors are produced while it is written: the header first
 * (every entry's dtype, shape and byte range are known up front), then each tensor's bytes pulled
 * from its {@link Source} one chunk at a time, so memory holds one chunk, never a whole tensor.
 * The layout is the safetensors library's: compact JSON header, space-padded to 8 bytes.
 */
public final class SafetensorsStreamWriter {
    /** Bytes of the one buffer a write uses (off-heap, reused for every chunk). */
    public static final int DEFAULT_CHUNK = 4 << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor of the file, in the order written. */
    public record Entry(String name, DType dtype, long[] shape) {
        public Entry {
            if (name == null || name.isEmpty() || name.equals("__metadata__"))
                throw new LowbitException("invalid tensor name '" + name + "'");
            if (dtype.isPacked())
                throw new LowbitException("tensor '" + name + "': packed " + dtype + " has no safetensors dtype");
            shape = shape.clone();
        }

        public long numel() {
            return Arrays.stream(shape).reduce(1, Math::multiplyExact);
        }

        public long bytes() {
            return Math.multiplyExact(numel(), dtype.byteSize());
        }
    }

    /** A tensor's bytes, in order: each call fills chunk's remaining bytes (a whole number of elements) with the next ones. */
    @FunctionalInterface
    public interface Source {
        void fill(ByteBuffer chunk);
    }

    /** The source of an entry's bytes, asked for once per entry when its turn comes. */
    @FunctionalInterface
    public interface Sources {
        Source of(Entry entry);
    }

    private SafetensorsStreamWriter() {}

    /** The header bytes: length, JSON with __metadata__ first, spaces up to the 8-byte aligned data section. */
    public static byte[] header(Map<String, String> metadata, List<Entry> entries) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            if (header.has(e.name())) throw new LowbitException("tensor '" + e.name() + "' added twice");
            ObjectNode n = header.putObject(e.name());
            n.put("dtype", e.dtype().name());
            ArrayNode shape = n.putArray("shape");
            for (long d : e.shape()) shape.add(d);
            n.putArray("data_offsets").add(offset).add(offset + e.bytes());
            offset += e.bytes();
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        return head.array();
    }

    /** The file's size in bytes. */
    public static long size(Map<String, String> metadata, List<Entry> entries) {
        return header(metadata, entries).length
                + entries.stream().mapToLong(Entry::bytes).sum();
    }

    /**
     * Writes the file to ch from its current position; progress gets the bytes of each chunk
     * once it is written. chunkBytes is rounded down to whole elements of each tensor.
     */
    public static void write(
            FileChannel ch,
            Map<String, String> metadata,
            List<Entry> entries,
            Sources sources,
            int chunkBytes,
            LongConsumer progress)
            throws IOException {
        if (chunkBytes < 8) throw new LowbitException("chunk of " + chunkBytes + " bytes is smaller than one element");
        ByteBuffer head = ByteBuffer.wrap(header(metadata, entries));
        writeFully(ch, head);
        progress.accept(head.capacity());
        try (Arena arena = Arena.ofConfined()) {
            ByteBuffer buffer = arena.allocate(chunkBytes, 64).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : entries) {
                Source source = sources.of(e);
                int width = e.dtype().byteSize();
                long left = e.bytes();
                while (left > 0) {
                    int n = (int) Math.min(left, chunkBytes / width * width);
                    buffer.clear().limit(n);
                    source.fill(buffer);
                    if (buffer.hasRemaining())
                        throw new IllegalStateException(
                                "the source of '" + e.name() + "' left " + buffer.remaining() + " bytes unfilled");
                    buffer.flip();
                    writeFully(ch, buffer);
                    left -= n;
                    progress.accept(n);
                }
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
