package dev.lowbit.runtime.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** safetensors round trips, files written byte by byte to the format, and corrupt files. */
class SafetensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripKeepsValuesShapesDtypesAndMetadata() throws IOException {
        Path file = dir.resolve("model.safetensors");
        float[] a = {1.5f, -2f, 3.25f, 0f, 7f, -0.125f};
        try (Arena arena = Arena.ofConfined()) {
            Tensor half = Tensor.of(arena, new float[] {0.5f, -1f, 65504f}, 3).convertedTo(arena, DType.F16);
            new SafetensorsWriter()
                    .metadata("format", "pt")
                    .put("w", Tensor.of(arena, a, 2, 3))
                    .put("h", half)
                    .write(file);
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            assertEquals("pt", f.metadata().get("format"));
            assertEquals(List.of("w", "h"), List.copyOf(f.names()));
            Tensor w = f.tensor("w");
            assertArrayEquals(new long[] {2, 3}, w.shape());
            assertArrayEquals(a, w.toFloatArray());
            assertEquals(DType.F16, f.tensor("h").dtype());
            assertArrayEquals(new float[] {0.5f, -1f, 65504f}, f.tensor("h").toFloatArray());
        }
        try (var files = Files.list(dir)) {
            assertFalse(
                    files.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left behind");
        }
    }

    /** copyInto fills a tensor of the same F32 size and reports, without copying, one that does not fit. */
    @Test
    void copyIntoTakesOnlyAnF32TensorOfTheSameSize() throws IOException {
        Path file = dir.resolve("state.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Tensor half = Tensor.of(arena, new float[] {1f, 2f, 3f}, 3).convertedTo(arena, DType.F16);
            new SafetensorsWriter()
                    .put("w", Tensor.of(arena, new float[] {1f, -2f, 3f}, 3))
                    .put("h", half)
                    .write(file);
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            Tensor three = Tensor.of(arena, new float[] {9f, 9f, 9f}, 3),
                    four = Tensor.of(arena, new float[] {9f, 9f, 9f, 9f}, 4);
            assertTrue(f.copyInto("w", three));
            assertArrayEquals(new float[] {1f, -2f, 3f}, three.toFloatArray());
            Tensor other = Tensor.of(arena, new float[] {7f, 7f, 7f}, 3);
            assertFalse(f.copyInto("w", four), "another size");
            assertFalse(f.copyInto("h", other), "F16 in the file");
            assertArrayEquals(
                    new float[] {9f, 9f, 9f, 9f}, four.toFloatArray(), "a tensor that does not fit is left as it was");
            assertArrayEquals(new float[] {7f, 7f, 7f}, other.toFloatArray());
            assertThrows(CheckpointException.class, () -> f.copyInto("missing", three));
        }
    }

    /** A file assembled by hand to the format's specification reads back. */
    @Test
    void readsAHandWrittenFile() throws IOException {
        String header =
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"k\":\"v\"}}";
        ByteBuffer b = ByteBuffer.allocate(8 + header.length() + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length())
                .put(header.getBytes(StandardCharsets.US_ASCII))
                .putFloat(3f)
                .putFloat(-4f);
        Path file = dir.resolve("hand.safetensors");
        Files.write(file, b.array());
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            assertArrayEquals(new float[] {3f, -4f}, f.tensor("x").toFloatArray());
            assertEquals("v", f.metadata().get("k"));
        }
    }

    @Test
    void corruptFilesFailWithTheReason() throws IOException {
        Path good = dir.resolve("good.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            new SafetensorsWriter()
                    .put("w", Tensor.of(arena, new float[64], 8, 8))
                    .write(good);
        }
        byte[] bytes = Files.readAllBytes(good);
        expectCorrupt(Arrays.copyOf(bytes, bytes.length - 4), "truncated file?");
        expectCorrupt(Arrays.copyOf(bytes, 5), "shorter than the 8-byte header length");
        byte[] hugeHeader = bytes.clone();
        hugeHeader[6] = 0x7f;
        expectCorrupt(hugeHeader, "header length");
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        expectCorrupt(text.replace("\"F32\"", "\"Q99\"").getBytes(StandardCharsets.ISO_8859_1), "unknown dtype Q99");
        expectCorrupt(
                text.replace("[8,8]", "[8,9]").getBytes(StandardCharsets.ISO_8859_1), "= 288 bytes but spans 256");
        expectCorrupt(text.replace("{\"w\"", "[\"w\"").getBytes(StandardCharsets.ISO_8859_1), "not valid JSON");
        CheckpointException missing = assertThrows(
                CheckpointException.class,
                () -> SafetensorsFile.open(dir.resolve("absent.safetensors"), Arena.ofAuto()));
        assertTrue(missing.getMessage().endsWith("no such file"), missing.getMessage());
    }

    private void expectCorrupt(byte[] content, String reason) throws IOException {
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, content);
        try (Arena arena = Arena.ofConfined()) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsFile.open(bad, arena));
            assertTrue(e.getMessage().contains(reason), e.getMessage());
            assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        }
    }

    @Test
    void failedWriteLeavesTheOldFileUntouched() throws IOException {
        Path file = dir.resolve("keep.safetensors");
        Files.writeString(file, "old content");
        Arena arena = Arena.ofConfined();
        Tensor t = Tensor.of(arena, new float[] {1f}, 1);
        arena.close(); // the tensor's memory is gone: writing must fail before the file is replaced
        LowbitException e = assertThrows(
                LowbitException.class, () -> new SafetensorsWriter().put("t", t).write(file));
        assertTrue(e.getMessage().contains("tensor 't' was freed"), e.getMessage());
        assertEquals("old content", Files.readString(file));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "only the original file remains");
        }
    }
}
