package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Collects tensors and metadata, then writes one safetensors file atomically (temporary name, then moved into place). */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long CHUNK = 1L << 30;

    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds t under name; the file lays tensors out widest element first (stable), so in a mapped file every tensor is aligned to its element size. */
    public SafetensorsWriter put(String name, Tensor t) {
        if (name == null || name.isEmpty() || name.equals("__metadata__"))
            throw new LowbitException("invalid tensor name '" + name + "'");
        if (!t.isContiguous()) throw new LowbitException("tensor '" + name + "' must be contiguous to be written");
        if (tensors.putIfAbsent(name, t) != null) throw new LowbitException("tensor '" + name + "' added twice");
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public void write(Path target) {
        List<Map.Entry<String, Tensor>> laidOut = new ArrayList<>(tensors.entrySet());
        laidOut.sort(Comparator.comparingInt(
                        (Map.Entry<String, Tensor> e) -> e.getValue().dtype().bits())
                .reversed());
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : laidOut) {
            Tensor t = e.getValue();
            if (!t.segment().scope().isAlive())
                throw new LowbitException(
                        "cannot write " + target + ": tensor '" + e.getKey() + "' was freed (its arena is closed)");
            long bytes = t.numel() * t.dtype().byteSize();
            ObjectNode n = header.putObject(e.getKey());
            n.put("dtype", t.dtype().name());
            ArrayNode shape = n.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            n.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the data section starts 8-byte aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        AtomicFiles.write(target, ch -> {
            writeFully(ch, head);
            for (Tensor t : laidOut.stream().map(Map.Entry::getValue).toList()) {
                MemorySegment s = t.segment().asSlice(0, t.numel() * t.dtype().byteSize());
                for (long at = 0; at < s.byteSize(); at += CHUNK)
                    writeFully(
                            ch,
                            s.asSlice(at, Math.min(CHUNK, s.byteSize() - at)).asByteBuffer());
            }
        });
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
