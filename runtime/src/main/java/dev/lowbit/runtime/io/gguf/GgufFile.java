package dev.lowbit.runtime.io.gguf;

import dev.lowbit.runtime.io.CheckpointException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped GGUF file (v2 or v3): its metadata (integers as Long, floats as Double, strings,
 * booleans, arrays as lists) and tensor infos, every field checked against the file's size, so a
 * corrupt or truncated file is a {@link CheckpointException} naming what is wrong, never a read
 * outside the mapping.
 */
public final class GgufFile {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final long MAX_ARRAY = 1L << 28;

    /** One tensor: ne innermost first, its ggml type and its bytes in the mapped file. */
    public record TensorInfo(String name, long[] ne, GgmlType type, MemorySegment data) {
        public long rows() {
            long r = 1;
            for (int i = 1; i < ne.length; i++) r *= ne[i];
            return r;
        }

        public long cols() {
            return ne[0];
        }
    }

    private final Path path;
    private final MemorySegment file;
    private long at;
    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final Map<String, TensorInfo> tensors = new LinkedHashMap<>();

    private GgufFile(Path path, MemorySegment file) {
        this.path = path;
        this.file = file;
    }

    /** Whether path is meant as a GGUF file: its name ends in .gguf, or it starts with GGUF's magic. */
    public static boolean isGguf(Path path) {
        if (path.getFileName() != null && path.getFileName().toString().endsWith(".gguf")) return true;
        try (FileChannel ch = FileChannel.open(path)) {
            var b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            return ch.read(b) == 4 && b.getInt(0) == GgufWriter.MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    public static GgufFile open(Path path, Arena arena) {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path)) {
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path + ": no such file");
        } catch (IOException e) {
            throw new CheckpointException(path + ": cannot read (" + e.getMessage() + ")", e);
        }
        GgufFile g = new GgufFile(path, file);
        g.parse();
        return g;
    }

    public Path path() {
        return path;
    }

    public Map<String, Object> metadata() {
        return metadata;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    private void parse() {
        if (file.byteSize() < 24 || file.get(I32, 0) != GgufWriter.MAGIC)
            throw bad("not a GGUF file (no GGUF magic at the start)");
        at = 4;
        int version = i32();
        if (version != 2 && version != 3)
            throw bad("GGUF version " + version + " is not supported (lowbit reads versions 2 and 3)");
        long nTensors = i64(), nKv = i64();
        if (nTensors < 0 || nKv < 0 || nTensors > MAX_ARRAY || nKv > MAX_ARRAY)
            throw bad("implausible counts: " + nTensors + " tensors, " + nKv + " metadata keys");
        for (long i = 0; i < nKv; i++) {
            String key = str();
            metadata.put(key, value(i32(), 0));
        }
        long alignment = metadata.get("general.alignment") instanceof Long a ? a : GgufWriter.ALIGNMENT;
        if (alignment <= 0 || alignment > 1 << 20 || Long.bitCount(alignment) != 1)
            throw bad("general.alignment " + alignment + " is not a power of two");
        record Raw(String name, long[] ne, GgmlType type, long offset) {}
        List<Raw> raws = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            String name = str();
            int nDims = i32();
            if (nDims < 1 || nDims > 4) throw bad("tensor " + name + " has " + nDims + " dimensions (1 to 4 allowed)");
            long[] ne = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                ne[d] = i64();
                if (ne[d] <= 0 || ne[d] > 1L << 40) throw bad("tensor " + name + " has dimension " + ne[d]);
            }
            int typeId = i32();
            GgmlType type = GgmlType.ofId(typeId);
            if (type == null)
                throw bad("tensor " + name + " has ggml type " + typeId
                        + ", which lowbit does not read (it reads F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K)");
            if (ne[0] % type.blockSize != 0)
                throw bad("tensor " + name + ": " + ne[0] + " elements per row are not whole " + type + " blocks");
            raws.add(new Raw(name, ne, type, i64()));
        }
        long dataStart = (at + alignment - 1) / alignment * alignment;
        for (Raw r : raws) {
            long rows = 1;
            for (int d = 1; d < r.ne.length; d++) rows = Math.multiplyExact(rows, r.ne[d]);
            long bytes = Math.multiplyExact(rows, r.type.rowBytes(r.ne[0]));
            if (r.offset < 0 || r.offset % alignment != 0)
                throw bad("tensor " + r.name + " has offset " + r.offset + ", not a multiple of " + alignment);
            if (dataStart + r.offset + bytes > file.byteSize())
                throw bad("truncated: tensor " + r.name + " needs bytes up to " + (dataStart + r.offset + bytes)
                        + ", the file has " + file.byteSize());
            if (tensors.put(r.name, new TensorInfo(r.name, r.ne, r.type, file.asSlice(dataStart + r.offset, bytes)))
                    != null) throw bad("tensor " + r.name + " appears twice");
        }
    }

    private Object value(int type, int depth) {
        return switch (type) {
            case 0 -> (long) Byte.toUnsignedInt(take(1).get(ValueLayout.JAVA_BYTE, 0));
            case 1 -> (long) take(1).get(ValueLayout.JAVA_BYTE, 0);
            case 2 -> (long) Short.toUnsignedInt(take(2).get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
            case 3 -> (long) take(2).get(ValueLayout.JAVA_SHORT_UNALIGNED, 0);
            case 4 -> Integer.toUnsignedLong(i32());
            case 5 -> (long) i32();
            case 6 -> (double) Float.intBitsToFloat(i32());
            case 7 -> take(1).get(ValueLayout.JAVA_BYTE, 0) != 0;
            case 8 -> str();
            case 9 -> {
                if (depth > 0) throw bad("nested metadata arrays are not supported");
                int elem = i32();
                long n = i64();
                if (n < 0 || n > MAX_ARRAY) throw bad("a metadata array claims " + n + " elements");
                List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 16));
                for (long i = 0; i < n; i++) list.add(value(elem, depth + 1));
                yield list;
            }
            case 10, 11 -> i64();
            case 12 -> Double.longBitsToDouble(i64());
            default -> throw bad("unknown metadata value type " + type + " at byte " + (at - 4));
        };
    }

    private MemorySegment take(long n) {
        if (n < 0 || at + n > file.byteSize())
            throw bad("truncated: the header needs " + n + " bytes at " + at + ", the file has " + file.byteSize());
        MemorySegment s = file.asSlice(at, n);
        at += n;
        return s;
    }

    private int i32() {
        return take(4).get(I32, 0);
    }

    private long i64() {
        return take(8).get(I64, 0);
    }

    private String str() {
        long n = i64();
        byte[] b = take(n).toArray(ValueLayout.JAVA_BYTE);
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b))
                    .toString();
        } catch (CharacterCodingException e) {
            throw bad("a string at byte " + (at - n) + " is not UTF-8: " + Arrays.toString(Arrays.copyOf(b, 8)));
        }
    }

    private CheckpointException bad(String why) {
        return new CheckpointException(path + ": " + why);
    }

    /** A metadata string, or an error naming the missing key. */
    public String string(String key) {
        if (metadata.get(key) instanceof String s) return s;
        throw bad("metadata " + key + " is missing or not a string");
    }

    /** A metadata integer, fallback when absent (null: required). */
    public long integer(String key, Long fallback) {
        Object v = metadata.get(key);
        if (v instanceof Long l) return l;
        if (v == null && fallback != null) return fallback;
        throw bad("metadata " + key + (v == null ? " is missing" : " is not an integer: " + v));
    }

    /** A metadata number as float, fallback when absent. */
    public float number(String key, float fallback) {
        Object v = metadata.get(key);
        if (v == null) return fallback;
        if (v instanceof Number n) return n.floatValue();
        throw bad("metadata " + key + " is not a number: " + v);
    }

    /** A metadata array, or null when absent. */
    public List<?> array(String key) {
        Object v = metadata.get(key);
        if (v == null || v instanceof List<?>) return (List<?>) v;
        throw bad("metadata " + key + " is not an array");
    }

    CheckpointException error(String why) {
        return bad(why);
    }
}
