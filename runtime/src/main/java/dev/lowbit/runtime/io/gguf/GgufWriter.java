package dev.lowbit.runtime.io.gguf;

import dev.lowbit.runtime.io.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Writes a GGUF v3 file (ggml's docs/gguf.md): the header, typed key-value metadata in the order
 * given, tensor infos (dims innermost first, offsets into the data section), then each tensor's
 * bytes at a multiple of {@link #ALIGNMENT}. The file is written under a temporary name and moved
 * into place.
 */
public final class GgufWriter {
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    static final int VERSION = 3;
    static final int ALIGNMENT = 32;

    // metadata value types (gguf_type)
    static final int UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9;

    /** A tensor to write: its bytes are produced into a zeroed segment of {@code type.rowBytes} per row. */
    private record Entry(String name, GgmlType type, long[] dims, long bytes, Consumer<MemorySegment> fill) {}

    private final Bytes metadata = new Bytes();
    private int keys;
    private final List<Entry> tensors = new ArrayList<>();

    public GgufWriter u32(String key, long value) {
        key(key, UINT32).i32((int) value);
        return this;
    }

    public GgufWriter f32(String key, float value) {
        key(key, FLOAT32).i32(Float.floatToRawIntBits(value));
        return this;
    }

    public GgufWriter bool(String key, boolean value) {
        key(key, BOOL).b(value ? 1 : 0);
        return this;
    }

    public GgufWriter string(String key, String value) {
        key(key, STRING).str(value);
        return this;
    }

    public GgufWriter strings(String key, List<String> values) {
        key(key, ARRAY).i32(STRING).i64(values.size());
        for (String v : values) metadata.str(v);
        return this;
    }

    public GgufWriter i32s(String key, int[] values) {
        key(key, ARRAY).i32(INT32).i64(values.length);
        for (int v : values) metadata.i32(v);
        return this;
    }

    /**
     * Adds a tensor of shape [rows, cols] (row-major, as lowbit stores W [out, in]); GGUF lists it
     * as ne = [cols, rows]. A 1-D tensor has rows 1 and is listed as [cols].
     */
    public GgufWriter tensor(String name, GgmlType type, long rows, long cols, Consumer<MemorySegment> fill) {
        long[] dims = rows == 1 ? new long[] {cols} : new long[] {cols, rows};
        tensors.add(new Entry(name, type, dims, rows * type.rowBytes(cols), fill));
        return this;
    }

    private Bytes key(String key, int type) {
        keys++;
        return metadata.str(key).i32(type);
    }

    public void write(Path target) {
        Bytes head = new Bytes().i32(MAGIC).i32(VERSION).i64(tensors.size()).i64(keys + 1);
        head.out.writeBytes(metadata.out.toByteArray());
        head.str("general.alignment").i32(UINT32).i32(ALIGNMENT);
        long offset = 0;
        for (Entry t : tensors) {
            head.str(t.name).i32(t.dims.length);
            for (long d : t.dims) head.i64(d);
            head.i32(t.type.id).i64(offset);
            offset = align(offset + t.bytes);
        }
        byte[] header = head.out.toByteArray();
        AtomicFiles.write(target, ch -> {
            ch.write(ByteBuffer.wrap(header));
            pad(ch, header.length);
            for (Entry t : tensors) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocate(t.bytes, ALIGNMENT);
                    t.fill.accept(data);
                    ch.write(data.asByteBuffer());
                }
                pad(ch, t.bytes);
            }
        });
    }

    static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    private static void pad(FileChannel ch, long written) throws IOException {
        ch.write(ByteBuffer.allocate((int) (align(written) - written)));
    }

    /** Little-endian encoding of header fields. */
    private static final class Bytes {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        Bytes b(int v) {
            out.write(v);
            return this;
        }

        Bytes i32(int v) {
            out.write(scratch.clear().putInt(v).array(), 0, 4);
            return this;
        }

        Bytes i64(long v) {
            out.write(scratch.clear().putLong(v).array(), 0, 8);
            return this;
        }

        Bytes str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            out.writeBytes(b);
            return this;
        }
    }
}
