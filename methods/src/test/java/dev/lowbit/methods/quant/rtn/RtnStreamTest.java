package dev.lowbit.methods.quant.rtn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.DiskSpace;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.io.ModelShape;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.io.SyntheticCheckpoint;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * RTN streamed block by block from a half-precision (or fp32) checkpoint used in place, sharded on
 * both sides, against RTN of the fp32-converted weights in memory: the same codes, scales and
 * zeros, and the same logits from the written file.
 */
class RtnStreamTest {
    static final ModelShape SMALL = ModelShape.parse("dim=64,hidden=192,layers=3,heads=4,kv_heads=2,vocab=96,ctx=32");

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"F32", "F16", "BF16"})
    void streamedCodesEqualInMemoryRtnOfTheFp32Weights(DType stored) throws IOException {
        Path model = SyntheticCheckpoint.write(SMALL, stored, tmp.resolve("fp"), 7, 40_000, (w, t) -> {})
                .dir();
        assertTrue(Files.exists(model.resolve("model.safetensors.index.json")), "the source is sharded");
        QuantSpec spec = QuantSpec.of(4, 32);
        Path out = Files.createDirectories(tmp.resolve("q"));
        List<Integer> blocks = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            // every tensor a view, q/k in Hugging Face's row order: each reordered in its own copy as it streams
            LlamaWeights mapped = HfCheckpoint.open(model, arena, false);
            assertEquals(stored, mapped.layers().get(0).linears().q().dtype(), "weights stay as stored");
            Rtn.write(mapped, true, spec, 8, 16, null, out, Map.of(), 30_000, blocks::add);
            assertEquals(List.of(1, 2, 3), blocks);
            try (Stream<Path> files = Files.list(out)) {
                assertTrue(
                        files.filter(f -> f.toString().endsWith(".safetensors")).count() > 1, "the output is sharded");
            }

            LlamaParameters fp32 = HfCheckpoint.load(model, arena);
            LlamaModel inMemory = Rtn.quantize(arena, fp32.weights(), spec, 8, 16);
            LlamaModel written = QuantizedCheckpoint.load(out, arena);
            for (int l = 0; l < SMALL.config().layers(); l++)
                for (Projection p : Projection.values()) {
                    QuantizedTensor a = ((Linear.ActQuantized) inMemory.linear(l, p)).weight();
                    QuantizedTensor b = ((Linear.ActQuantized) written.linear(l, p)).weight();
                    String at = p.weightName(l);
                    assertArrayEquals(ints(a.codes()), ints(b.codes()), at + " codes");
                    assertArrayEquals(a.scales().toFloatArray(), b.scales().toFloatArray(), at + " scales");
                    assertArrayEquals(a.zeros().toFloatArray(), b.zeros().toFloatArray(), at + " zeros");
                }
            assertEquals(stored, written.weights().tokenEmbedding().dtype(), "the embedding keeps its dtype");

            int[] tokens = {1, 5, 9, 33, 2, 77};
            float[] expected = logits(arena, inMemory, tokens), got = logits(arena, written, tokens);
            for (int i = 0; i < expected.length; i++)
                assertEquals(expected[i], got[i], 1e-4f * (1 + Math.abs(expected[i])), "logit " + i);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"F16", "BF16"})
    void halfPrecisionModelRunsAsItsFp32Conversion(DType stored) {
        Path model = SyntheticCheckpoint.write(SMALL, stored, tmp.resolve("fp"), 3, 1L << 30, (w, t) -> {})
                .dir();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel half = new LlamaModel(HfCheckpoint.open(model, arena));
            LlamaModel fp32 = new LlamaModel(HfCheckpoint.load(model, arena).weights());
            int[] prompt = new int[20]; // long enough for the panel (sgemm) path
            for (int i = 0; i < prompt.length; i++)
                prompt[i] = (i * 37 + 11) % SMALL.config().vocabSize();
            for (int[] tokens : new int[][] {prompt, {4}}) {
                float[] expected = logits(arena, fp32, tokens), got = logits(arena, half, tokens);
                for (int i = 0; i < expected.length; i++)
                    assertEquals(expected[i], got[i], 1e-4f * (1 + Math.abs(expected[i])), "logit " + i);
            }
        }
    }

    @Test
    void headBitsQuantizeTheOutputHeadLikeAnyLinear() throws IOException {
        Path model = SyntheticCheckpoint.write(SMALL, DType.BF16, tmp.resolve("fp"), 5, 1L << 30, (w, t) -> {})
                .dir();
        QuantSpec spec = QuantSpec.of(4, 32), head = QuantSpec.of(8, 32);
        Path out = Files.createDirectories(tmp.resolve("q"));
        try (Arena arena = Arena.ofConfined()) {
            Rtn.write(
                    HfCheckpoint.open(model, arena, false), true, spec, 16, 16, head, out, Map.of(), 1L << 30, b -> {});
            LlamaModel written = QuantizedCheckpoint.load(out, arena);
            QuantizedTensor h = ((Linear.Quantized) written.head()).weight();
            LlamaParameters fp32 = HfCheckpoint.load(model, arena);
            QuantizedTensor expected = Kernels.quantize(arena, fp32.weights().output(), head);
            assertEquals(8, h.bits());
            assertArrayEquals(ints(expected.codes()), ints(h.codes()), "head codes");
            assertArrayEquals(expected.scales().toFloatArray(), h.scales().toFloatArray(), "head scales");

            LlamaModel inMemory = new LlamaModel(
                    Rtn.quantize(arena, fp32.weights(), spec).weights(),
                    (layer, p, w) -> new Linear.Quantized(Kernels.quantize(arena, w, spec)),
                    16,
                    new Linear.Quantized(expected));
            int[] tokens = {3, 14, 15, 92, 65};
            float[] a = logits(arena, inMemory, tokens), b = logits(arena, written, tokens);
            for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-4f * (1 + Math.abs(a[i])), "logit " + i);

            Path again = Files.createDirectories(tmp.resolve("saved"));
            QuantizedCheckpoint.save(written, again, Map.of()); // and back through the in-memory writer
            assertEquals(
                    8,
                    ((Linear.Quantized) QuantizedCheckpoint.load(again, arena).head())
                            .weight()
                            .bits());
        }
    }

    @Test
    void checksTheFreeSpaceAndNeverOverwrites() throws IOException {
        Path model = SyntheticCheckpoint.write(SMALL, DType.BF16, tmp.resolve("fp"), 3, 1L << 30, (w, t) -> {})
                .dir();
        long free = Files.getFileStore(tmp).getUsableSpace();
        LowbitException full = assertThrows(LowbitException.class, () -> DiskSpace.check(tmp, free + (1L << 30), "x"));
        assertTrue(full.getMessage().contains("the disk is full"), full.getMessage());
        Path out = Files.createDirectories(tmp.resolve("q"));
        Files.writeString(out.resolve("model.safetensors"), "x");
        try (Arena arena = Arena.ofConfined()) {
            LlamaWeights mapped = HfCheckpoint.open(model, arena);
            assertThrows(
                    LowbitException.class,
                    () -> Rtn.write(
                            mapped, false, QuantSpec.of(4, 32), 16, 16, null, out, Map.of(), 1L << 30, b -> {}));
        }
        assertEquals("x", Files.readString(out.resolve("model.safetensors")), "an existing file is never overwritten");
    }

    @Test
    void aNaNInAStreamedLinearIsNamed() throws IOException {
        Path model = SyntheticCheckpoint.write(SMALL, DType.BF16, tmp.resolve("fp"), 3, 1L << 30, (w, t) -> {})
                .dir();
        Path file = model.resolve("model.safetensors");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            int headerLen = (int) len.getLong(0);
            ByteBuffer header = ByteBuffer.allocate(headerLen);
            ch.read(header, 8);
            long begin = new ObjectMapper()
                    .readTree(new String(header.array(), StandardCharsets.UTF_8))
                    .path("model.layers.1.mlp.up_proj.weight")
                    .path("data_offsets")
                    .get(0)
                    .asLong();
            ch.write(ByteBuffer.wrap(new byte[] {(byte) 0xC0, 0x7F}), 8 + headerLen + begin + 2 * 17); // bf16 NaN
        }
        try (Arena arena = Arena.ofConfined()) {
            LlamaWeights mapped = HfCheckpoint.open(model, arena, false);
            Path out = Files.createDirectories(tmp.resolve("q"));
            LowbitException e = assertThrows(
                    LowbitException.class,
                    () -> Rtn.write(mapped, true, QuantSpec.of(4, 32), 16, 16, null, out, Map.of(), 1L << 30, b -> {}));
            assertTrue(e.getMessage().contains("model.layers.1.mlp.up_proj.weight"), e.getMessage());
        }
    }

    private static float[] logits(Arena arena, LlamaModel m, int[] tokens) {
        Tensor all = m.forward(arena, tokens, m.newCache(arena));
        return all.rows(tokens.length - 1, 1).toFloatArray();
    }

    private static int[] ints(Tensor t) {
        int[] out = new int[(int) t.numel()];
        for (int i = 0; i < out.length; i++) out[i] = t.segment().getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
        return out;
    }
}
