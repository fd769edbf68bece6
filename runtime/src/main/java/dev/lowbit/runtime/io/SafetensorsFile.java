package dev.lowbit.runtime.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SequencedSet;

/**
 * A safetensors file, memory-mapped: tensors are views of the mapping (no copy onto the Java
 * heap), valid while the arena given to {@link #open} is alive. The header is validated when the
 * file is opened: every tensor's dtype, shape and byte range must be consistent and inside the
 * file, so a corrupt or truncated file fails here with its name and the reason.
 */
public final class SafetensorsFile implements TensorLookup {
    /** Largest header accepted (the format caps it at 100 MB). */
    static final long MAX_HEADER = 100L << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor's entry in the header: byte range relative to the start of the data section. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public long numel() {
            return Arrays.stream(shape).reduce(1, Math::multiplyExact);
        }
    }

    private final Path path;
    private final MemorySegment data;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, MemorySegment data, Map<String, Entry> entries, Map<String, String> metadata) {
        this.path = path;
        this.data = data;
        this.entries = entries;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path, Arena arena) {
        MemorySegment file = MappedFile.map(path, arena);
        if (file.byteSize() < 8)
            throw corrupt(path, "file is " + file.byteSize() + " bytes, shorter than the 8-byte header length");
        long headerLen = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > file.byteSize() - 8)
            throw corrupt(path, "header length " + headerLen + " does not fit a file of " + file.byteSize() + " bytes");
        String header = new String(file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        MemorySegment data = file.asSlice(8 + headerLen);
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JacksonException e) {
            throw corrupt(path, "header is not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) throw corrupt(path, "header is not a JSON object");
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (f.getKey().equals("__metadata__")) {
                if (!f.getValue().isObject()) throw corrupt(path, "__metadata__ is not an object of strings");
                f.getValue()
                        .fields()
                        .forEachRemaining(
                                m -> metadata.put(m.getKey(), m.getValue().asText()));
            } else {
                entries.put(f.getKey(), entry(path, f.getKey(), f.getValue(), data.byteSize()));
            }
        }
        checkNoOverlap(path, entries.values());
        return new SafetensorsFile(
                path, data, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
    }

    private static Entry entry(Path path, String name, JsonNode n, long dataSize) {
        JsonNode dtype = n.get("dtype"), shape = n.get("shape"), offsets = n.get("data_offsets");
        if (dtype == null
                || !dtype.isTextual()
                || shape == null
                || !shape.isArray()
                || offsets == null
                || !offsets.isArray()
                || offsets.size() != 2)
            throw corrupt(path, "tensor '" + name + "' needs dtype, shape and data_offsets [begin, end]");
        long[] dims = new long[shape.size()];
        for (int i = 0; i < dims.length; i++) {
            if (!shape.get(i).canConvertToLong() || shape.get(i).asLong() < 0)
                throw corrupt(path, "tensor '" + name + "' has shape " + shape);
            dims[i] = shape.get(i).asLong();
        }
        long begin = offsets.get(0).asLong(-1), end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataSize)
            throw corrupt(
                    path,
                    "tensor '" + name + "' spans bytes [" + begin + ", " + end + ") but the data section has "
                            + dataSize + " bytes (truncated file?)");
        Entry e = new Entry(name, dtype.asText(), dims, begin, end);
        long expected;
        try {
            expected = Math.multiplyExact(e.numel(), (long) byteWidth(path, name, e.dtype()));
        } catch (ArithmeticException overflow) {
            throw corrupt(path, "tensor '" + name + "' shape " + shape + " overflows");
        }
        if (expected != end - begin)
            throw corrupt(
                    path,
                    "tensor '" + name + "' is " + e.dtype() + " " + shape + " = " + expected + " bytes but spans "
                            + (end - begin));
        return e;
    }

    private static int byteWidth(Path path, String name, String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> throw corrupt(path, "tensor '" + name + "' has unknown dtype " + dtype);
        };
    }

    private static void checkNoOverlap(Path path, Iterable<Entry> entries) {
        List<Entry> sorted = new ArrayList<>();
        entries.forEach(sorted::add);
        sorted.sort((a, b) -> Long.compare(a.begin(), b.begin()));
        for (int i = 1; i < sorted.size(); i++)
            if (sorted.get(i).begin() < sorted.get(i - 1).end())
                throw corrupt(
                        path,
                        "tensors '" + sorted.get(i - 1).name() + "' and '"
                                + sorted.get(i).name() + "' overlap");
    }

    private static CheckpointException corrupt(Path path, String why) {
        return new CheckpointException(path + ": not a valid safetensors file: " + why);
    }

    public Path path() {
        return path;
    }

    /** Tensor names in header order. */
    public SequencedSet<String> names() {
        return Collections.unmodifiableSequencedSet(new LinkedHashSet<>(entries.keySet()));
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new CheckpointException(path + ": no tensor named '" + name + "'");
        return e;
    }

    @Override
    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /** A zero-copy view of the tensor (F32, F16, BF16, I32, I8 or U8). */
    @Override
    public Tensor tensor(String name) {
        Entry e = entry(name);
        DType type = switch (e.dtype()) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            case "I32" -> DType.I32;
            case "I8" -> DType.I8;
            case "U8" -> DType.U8;
            default ->
                throw new CheckpointException(
                        path + ": tensor '" + name + "' is " + e.dtype() + ", which lowbit does not load");
        };
        long[] shape = e.shape().length == 0 ? new long[] {1} : e.shape();
        if (e.numel() == 0) throw new CheckpointException(path + ": tensor '" + name + "' is empty");
        return Tensor.wrap(data.asSlice(e.begin(), e.end() - e.begin()), type, shape);
    }

    /**
     * Copies tensor name into dst (F32) when it is F32 with dst's element count and returns true;
     * returns false, dst untouched, when it does not fit, so each caller can say what to do.
     */
    public boolean copyInto(String name, Tensor dst) {
        Tensor src = tensor(name);
        if (src.dtype() != DType.F32 || dst.dtype() != DType.F32 || src.numel() != dst.numel()) return false;
        dst.copyFrom(src.reshape(dst.shape()));
        return true;
    }
}
