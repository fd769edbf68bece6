package dev.lowbit.runtime.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lowbit.runtime.io.SafetensorsStreamWriter.Entry;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The streaming safetensors writer: the same bytes as SafetensorsWriter, one chunk at a time; and HF's shard split. */
class SafetensorsStreamWriterTest {
    @TempDir
    Path dir;

    @Test
    void writesTheBytesSafetensorsWriterWritesFromInMemoryTensors() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.allocate(arena, DType.F32, 3, 5), b = Tensor.allocate(arena, DType.BF16, 7);
            for (int i = 0; i < 15; i++) a.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f - 3);
            for (int i = 0; i < 7; i++) b.segment().setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (0x3F80 + i));
            new SafetensorsWriter()
                    .metadata("format", "pt")
                    .put("a", a)
                    .put("b", b)
                    .write(dir.resolve("ref.safetensors"));

            List<Entry> entries =
                    List.of(new Entry("a", DType.F32, new long[] {3, 5}), new Entry("b", DType.BF16, new long[] {7}));
            long[] at = {0};
            try (FileChannel ch = open(dir.resolve("streamed.safetensors"))) {
                SafetensorsStreamWriter.write(
                        ch,
                        Map.of("format", "pt"),
                        entries,
                        e -> {
                            Tensor t = e.name().equals("a") ? a : b;
                            at[0] = 0;
                            return chunk -> { // 8-byte chunks: several per tensor
                                while (chunk.hasRemaining())
                                    chunk.put(t.segment().get(ValueLayout.JAVA_BYTE, at[0]++));
                            };
                        },
                        8,
                        n -> {});
            }
            assertArrayEquals(
                    Files.readAllBytes(dir.resolve("ref.safetensors")),
                    Files.readAllBytes(dir.resolve("streamed.safetensors")));
        }
    }

    @Test
    void aTensorMuchLargerThanTheChunkIsAskedForChunkByChunk() throws IOException {
        long elements = 4L << 20; // 16 MB of f32 through a 64 KB buffer
        int chunkBytes = 1 << 16;
        long[] next = {0}, largest = {0}, calls = {0};
        Entry big = new Entry("big", DType.F32, new long[] {elements / 1024, 1024});
        Path file = dir.resolve("big.safetensors");
        try (FileChannel ch = open(file)) {
            SafetensorsStreamWriter.write(
                    ch,
                    Map.of(),
                    List.of(big),
                    e -> chunk -> {
                        largest[0] = Math.max(largest[0], chunk.remaining());
                        calls[0]++;
                        while (chunk.hasRemaining()) chunk.putFloat(next[0]++);
                    },
                    chunkBytes,
                    n -> {});
        }
        assertEquals(chunkBytes, largest[0]);
        assertEquals(elements * 4 / chunkBytes, calls[0]);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = SafetensorsFile.open(file, arena).tensor("big");
            assertArrayEquals(new long[] {elements / 1024, 1024}, t.shape());
            for (long i = 0; i < elements; i += 4099)
                assertEquals((float) i, t.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
            assertEquals(
                    (float) (elements - 1), t.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, elements - 1));
        }
    }

    /** huggingface_hub's rule: fill until the next tensor would pass the maximum; a larger one alone, the open shard kept. */
    @Test
    void shardsSplitAsSavePretrainedSplitsThem() {
        List<Entry> dict = List.of(u8("e", 4), u8("d", 3), u8("c", 2), u8("big", 7), u8("a", 1), u8("b", 6));
        ShardPlan plan = ShardPlan.split(dict, 6);
        List<List<String>> names = plan.shards().stream()
                .map(s -> s.stream().map(Entry::name).toList())
                .toList();
        assertEquals(List.of(List.of("e"), List.of("big"), List.of("a", "c", "d"), List.of("b")), names);
        assertEquals("model-00003-of-00004.safetensors", plan.fileName(2));
        assertEquals(23, plan.totalBytes());
        assertEquals("model.safetensors", ShardPlan.split(dict, 100).fileName(0));
        assertEquals(1, ShardPlan.split(dict, 100).shards().size());
    }

    private static Entry u8(String name, long n) {
        return new Entry(name, DType.U8, new long[] {n});
    }

    private static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    }
}
