package dev.lowbit.methods.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.methods.quant.qllm.Qllm;
import dev.lowbit.methods.quant.qllm.QllmConfig;
import dev.lowbit.methods.quant.smoothquant.SmoothQuant;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.io.ModelShape;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.io.SyntheticCheckpoint;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * QLLM and SmoothQuant streamed block by block from a half-precision checkpoint used in place
 * (sharded, q/k in Hugging Face's row order), against the whole-model path on its fp32 conversion
 * (HfCheckpoint.load): the same bytes in every block tensor of the saved models (codes, scales,
 * zeros, channel maps, trained norms), the same values elsewhere (the streamed model keeps the
 * embedding and head as stored). A QLLM run stopped after its first round and resumed gives the
 * same model as an uninterrupted one.
 */
class StreamedMethodsTest {
    static final ModelShape SMALL = ModelShape.parse("dim=64,hidden=192,layers=3,heads=4,kv_heads=2,vocab=96,ctx=32");
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"F16", "BF16"})
    void qllmStreamedFromTheStoredWeightsEqualsTheFp32WholeModelPath(DType stored) throws Exception {
        Path model = synth(stored);
        QllmConfig cfg = QllmConfig.builder(4, 4)
                .samples(8)
                .seqLen(16)
                .batch(4)
                .steps(3)
                .blocksPerRound(2)
                .searchTokens(64)
                .build();
        int[][] calib = calibration(cfg.samples(), cfg.seqLen());
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights mapped = HfCheckpoint.open(model, arena, false);
            assertEquals(stored, mapped.layers().get(0).linears().q().dtype(), "weights stay as stored");
            LlamaModel streamed = new Qllm(mapped, true, cfg, QUIET).quantize(arena, calib);
            LlamaModel whole = new Qllm(HfCheckpoint.load(model, arena).weights(), cfg, QUIET).quantize(arena, calib);
            assertEquals(stored, streamed.weights().tokenEmbedding().dtype(), "the embedding stays as stored");
            Path a = save(streamed, "streamed"), b = save(whole, "whole");
            assertSameModel(b, a, arena);

            // stopped after the first round (blocks 0 and 1), then resumed from its checkpoint
            Path checkpoint = tmp.resolve("qllm-checkpoint.safetensors");
            Optional<LlamaModel> stopped = new Qllm(mapped, true, cfg, QUIET).quantize(arena, calib, checkpoint, 2);
            assertTrue(stopped.isEmpty() && Files.isRegularFile(checkpoint), "stopped after block 1");
            LlamaModel resumed = new Qllm(mapped, true, cfg, QUIET)
                    .quantize(arena, calib, checkpoint, Integer.MAX_VALUE)
                    .orElseThrow();
            assertSameModel(a, save(resumed, "resumed"), arena);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"F16", "BF16"})
    void smoothQuantWrittenBlockByBlockEqualsTheFp32WholeModelPath(DType stored) throws Exception {
        Path model = synth(stored);
        QuantSpec spec = QuantSpec.of(4, QuantSpec.PER_CHANNEL);
        int[][] calib = calibration(6, 16);
        Path streamed = Files.createDirectories(tmp.resolve("sq-streamed"));
        try (Arena arena = Arena.ofShared()) {
            int[] blocks = {0};
            SmoothQuant.write(
                    HfCheckpoint.open(model, arena, false),
                    true,
                    calib,
                    0.5f,
                    spec,
                    4,
                    4,
                    streamed,
                    Map.of(),
                    30_000,
                    b -> blocks[0] = b);
            assertEquals(SMALL.config().layers(), blocks[0], "every block reported");
            assertTrue(Files.isRegularFile(streamed.resolve("model.safetensors.index.json")), "the output is sharded");
            LlamaModel whole =
                    SmoothQuant.quantize(arena, HfCheckpoint.load(model, arena).weights(), calib, 0.5f, spec, 4, 4);
            Path saved = save(QuantizedCheckpoint.load(streamed, arena), "sq-resaved");
            assertSameModel(save(whole, "sq-whole"), saved, arena);
        }
    }

    private Path synth(DType stored) {
        Path model = SyntheticCheckpoint.write(SMALL, stored, tmp.resolve("fp"), 11, 40_000, (w, t) -> {})
                .dir();
        assertTrue(Files.exists(model.resolve("model.safetensors.index.json")), "the source is sharded");
        return model;
    }

    private static int[][] calibration(int samples, int seqLen) {
        SplittableRandom rnd = new SplittableRandom(5);
        int[][] calib = new int[samples][seqLen];
        for (int[] seq : calib)
            for (int t = 0; t < seqLen; t++) seq[t] = rnd.nextInt(SMALL.config().vocabSize());
        return calib;
    }

    private Path save(LlamaModel m, String name) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        QuantizedCheckpoint.save(m, dir, Map.of());
        return dir.resolve("model.safetensors");
    }

    /** Every tensor of expected is in got: block tensors byte for byte, the rest (as stored there) with equal values. */
    private static void assertSameModel(Path expected, Path got, Arena arena) {
        SafetensorsFile e = SafetensorsFile.open(expected, arena), g = SafetensorsFile.open(got, arena);
        assertEquals(e.names(), g.names());
        for (String name : e.names()) {
            Tensor a = e.tensor(name), b = g.tensor(name);
            if (name.startsWith("model.layers.")) {
                assertEquals(a.dtype(), b.dtype(), name);
                assertArrayEquals(bytes(a), bytes(b), name);
            } else {
                assertArrayEquals(values(arena, a), values(arena, b), name);
            }
        }
    }

    private static byte[] bytes(Tensor t) {
        return t.segment().asSlice(0, t.numel() * t.dtype().byteSize()).toArray(ValueLayout.JAVA_BYTE);
    }

    private static float[] values(Arena arena, Tensor t) {
        return Kernels.widened(arena, t).toFloatArray();
    }
}
