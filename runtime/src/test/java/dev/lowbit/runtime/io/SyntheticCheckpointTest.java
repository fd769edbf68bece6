package dev.lowbit.runtime.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.management.ThreadMXBean;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsStreamWriter.Entry;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** lowbit synth's folders: HF's sharding and index, loadable weights of the init scale, reproducible, atomic. */
class SyntheticCheckpointTest {
    static final ModelShape SMALL = ModelShape.parse("dim=64,hidden=160,layers=2,heads=4,kv_heads=2,vocab=96,ctx=32");
    static final ObjectMapper JSON = new ObjectMapper();
    static final SyntheticCheckpoint.Progress QUIET = (written, total) -> {};

    @TempDir
    Path tmp;

    Path synth(String name, DType dtype, long seed, long maxShard) {
        return SyntheticCheckpoint.write(SMALL, dtype, tmp.resolve(name), seed, maxShard, QUIET)
                .dir();
    }

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"BF16", "F32"})
    void shardsIndexAndConfigAreAsHuggingFaceWritesThem(DType dtype) throws IOException {
        Path dir = synth("m", dtype, 7, 20_000);
        JsonNode index =
                JSON.readTree(dir.resolve("model.safetensors.index.json").toFile());
        Map<String, String> weightMap = new HashMap<>();
        index.get("weight_map")
                .fields()
                .forEachRemaining(f -> weightMap.put(f.getKey(), f.getValue().asText()));
        List<Entry> stateDict = SyntheticCheckpoint.stateDict(SMALL.config(), dtype);
        assertEquals(stateDict.stream().map(Entry::name).collect(Collectors.toSet()), weightMap.keySet());

        Set<String> shardFiles = new HashSet<>(weightMap.values());
        int n = shardFiles.size();
        assertTrue(n >= 3, n + " shards");
        Map<String, String> found = new HashMap<>();
        long bytes = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 1; i <= n; i++) {
                String file = String.format("model-%05d-of-%05d.safetensors", i, n);
                SafetensorsFile st = SafetensorsFile.open(dir.resolve(file), arena);
                assertEquals(Map.of("format", "pt"), st.metadata());
                List<String> names = new ArrayList<>(st.names());
                long shardBytes = names.stream()
                        .mapToLong(t -> st.entry(t).end() - st.entry(t).begin())
                        .sum();
                assertTrue(
                        shardBytes <= 20_000 || names.size() == 1,
                        file + " holds " + shardBytes + " bytes in " + names);
                assertEquals(names.stream().sorted().toList(), names, "tensors inside a shard are in name order");
                for (String name : names) {
                    assertEquals(null, found.put(name, file), name + " is in two shards");
                    assertEquals(dtype.name(), st.entry(name).dtype());
                    bytes += st.entry(name).end() - st.entry(name).begin();
                }
            }
        }
        assertEquals(weightMap, found, "the index points every tensor to the shard that holds it");
        assertEquals(bytes, index.get("metadata").get("total_size").asLong());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(n + 2, files.count(), "shards, index and config.json, nothing else");
        }
        if (Files.getFileStore(dir).supportsFileAttributeView("posix"))
            assertEquals(
                    PosixFilePermissions.fromString("rwxr-xr-x"),
                    Files.getPosixFilePermissions(dir),
                    "not a private temp folder");

        JsonNode cfg = JSON.readTree(dir.resolve("config.json").toFile());
        assertEquals("LlamaForCausalLM", cfg.get("architectures").get(0).asText());
        assertEquals("llama", cfg.get("model_type").asText());
        assertEquals(
                dtype == DType.BF16 ? "bfloat16" : "float32",
                cfg.get("torch_dtype").asText());
        assertEquals(1e-5, cfg.get("rms_norm_eps").asDouble());
        assertEquals(SMALL.config(), HfCheckpoint.readConfig(dir));
        String text = Files.readString(dir.resolve("config.json"));
        String pythonJson = "{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n  \"attention_bias\": false,";
        assertTrue(text.startsWith(pythonJson) && text.endsWith("\n  \"vocab_size\": 96\n}\n"), text);
    }

    @Test
    void theLoaderReadsTheFolderAndTheModelGivesFiniteLogits() {
        Path dir = synth("m", DType.BF16, 3, 20_000);
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = ModelFiles.open(dir.toString(), arena).model();
            float[] logits = model.forward(arena, new int[] {1, 5, 17, 95}, model.newCache(arena))
                    .toFloatArray();
            assertEquals(4 * SMALL.config().vocabSize(), logits.length);
            for (float v : logits) assertTrue(Float.isFinite(v), "logit " + v);
        }
    }

    @Test
    void weightsHaveTheInitialisationScaleAndNormsAreOne() {
        Path dir = synth("m", DType.F32, 11, 20_000);
        for (Entry e : SyntheticCheckpoint.stateDict(SMALL.config(), DType.F32)) {
            float[] v = values(dir, e.name());
            if (e.shape().length == 1) {
                for (float x : v) assertEquals(1f, x, e.name());
                continue;
            }
            double mean = 0, sq = 0;
            for (float x : v) mean += x;
            mean /= v.length;
            for (float x : v) sq += (x - mean) * (x - mean);
            double std = Math.sqrt(sq / v.length);
            // v.length >= 4096: the sample mean is within 5 standard errors (0.02 / 64) of 0, the std within 6 %
            assertEquals(0, mean, 5 * 0.02 / Math.sqrt(v.length), e.name() + " mean");
            assertEquals(0.02, std, 0.02 * 0.06, e.name() + " std");
        }
    }

    @Test
    void theSameSeedGivesTheSameBytesAndAnotherSeedOthers() throws IOException {
        Path a = synth("a", DType.BF16, 5, 20_000),
                b = synth("b", DType.BF16, 5, 20_000),
                c = synth("c", DType.BF16, 6, 20_000);
        try (Stream<Path> files = Files.list(a)) {
            for (Path f : files.toList()) {
                byte[] bytes = Files.readAllBytes(f);
                assertArrayEquals(
                        bytes,
                        Files.readAllBytes(b.resolve(f.getFileName())),
                        f.getFileName().toString());
                if (f.toString().endsWith(".safetensors"))
                    assertFalse(Arrays.equals(bytes, Files.readAllBytes(c.resolve(f.getFileName()))));
            }
        }
    }

    /** bf16 = the f32 value rounded to the nearest bf16, ties to even, computed here without bit tricks. */
    @Test
    void bf16ValuesAreTheF32ValuesRounded() {
        Path f32 = synth("f32", DType.F32, 9, 20_000), bf16 = synth("bf16", DType.BF16, 9, 1_000_000);
        assertTrue(Files.exists(bf16.resolve("model.safetensors")), "one shard when it fits");
        assertFalse(Files.exists(bf16.resolve("model.safetensors.index.json")));
        int checked = 0;
        for (Entry e : SyntheticCheckpoint.stateDict(SMALL.config(), DType.F32)) {
            float[] exact = values(f32, e.name()), rounded = values(bf16, e.name());
            for (int i = 0; i < exact.length; i++, checked++)
                assertEquals(nearestBf16(exact[i]), rounded[i], e.name() + "[" + i + "]");
        }
        assertEquals(SMALL.config().parameterCount(), checked);
    }

    /** The two bf16 neighbours of v (bf16 keeps 8 significant bits), the nearer one, the even one on a tie. */
    static float nearestBf16(float v) {
        if (v == 0) return v;
        int exponent = Math.getExponent(v);
        double ulp = Math.scalb(1.0, exponent - 7), down = Math.floor(v / ulp) * ulp, up = down + ulp;
        double d = v - down, u = up - v;
        if (d < u) return (float) down;
        if (u < d) return (float) up;
        return (float) (Math.floorMod((long) Math.floor(v / ulp), 2) == 0 ? down : up);
    }

    @Test
    void aModelMuchLargerThanTheChunkIsStreamedWithoutHeapGrowth() throws IOException {
        // embed_tokens and lm_head are 8 MB each in f32, written through a 64 KB buffer
        ModelShape shape = ModelShape.parse("dim=64,hidden=96,layers=1,heads=4,vocab=32768");
        long embedBytes = 32768L * 64 * 4;
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        SyntheticCheckpoint.write(
                ModelShape.parse("dim=8,hidden=8,layers=1,heads=2,vocab=8"),
                DType.F32,
                tmp.resolve("warm"),
                1,
                1 << 30,
                1 << 16,
                QUIET); // loads and compiles the classes first
        long before = threads.getCurrentThreadAllocatedBytes();
        SyntheticCheckpoint.write(shape, DType.F32, tmp.resolve("big"), 1, 1L << 30, 1 << 16, QUIET);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(
                allocated < embedBytes / 8,
                allocated + " bytes of heap allocated to write two " + embedBytes + "-byte tensors");
        float[] embed = values(tmp.resolve("big"), "model.embed_tokens.weight");
        assertEquals(embedBytes / 4, embed.length);
        double sq = 0;
        for (float x : embed) sq += x * x;
        assertEquals(0.02, Math.sqrt(sq / embed.length), 0.0005);
        assertTrue(Files.size(tmp.resolve("big").resolve("model.safetensors")) > 2 * embedBytes);
    }

    @Test
    void badShapesTargetsAndSizesAreOneLineErrors() throws IOException {
        for (String bad : new String[] {
            "llama-70b",
            "dim=64,hidden=160",
            "dim=64,hidden=160,layers=2,heads=5,vocab=9",
            "dim=x,hidden=1,layers=1,heads=1,vocab=1",
            "dim=64,width=3"
        }) {
            LowbitException e = assertThrows(LowbitException.class, () -> ModelShape.parse(bad), bad);
            assertTrue(e.getMessage().contains(bad) && !e.getMessage().contains("\n"), e.getMessage());
        }
        Files.createDirectories(tmp.resolve("full"));
        Files.writeString(tmp.resolve("full").resolve("x"), "x");
        LowbitException e = assertThrows(LowbitException.class, () -> synth("full", DType.BF16, 1, 1 << 20));
        assertTrue(e.getMessage().contains("exists and is not empty"), e.getMessage());
        assertThrows(LowbitException.class, () -> synth("full/x", DType.BF16, 1, 1 << 20));
        assertThrows(LowbitException.class, () -> synth("i8", DType.I8, 1, 1 << 20));
        assertEquals(5_000_000_000L, ShardPlan.parseSize("5GB"));
        assertEquals(2L << 30, ShardPlan.parseSize("2GiB"));
        assertEquals(1234, ShardPlan.parseSize("1234"));
        assertThrows(LowbitException.class, () -> ShardPlan.parseSize("5 gigs"));

        Files.createDirectories(tmp.resolve("empty"));
        assertTrue(
                Files.exists(synth("empty", DType.BF16, 1, 1 << 20).resolve("config.json")),
                "an empty --out is filled");
    }

    @Test
    void aFailedRunLeavesNoFolderThatLooksComplete() throws IOException {
        Path out = tmp.resolve("failed");
        RuntimeException stop = new RuntimeException("stopped");
        SyntheticCheckpoint.Progress stopHalfway = (written, total) -> {
            if (written > total / 2) throw stop;
        };
        assertThrows(
                RuntimeException.class,
                () -> SyntheticCheckpoint.write(SMALL, DType.BF16, out, 1, 20_000, stopHalfway));
        assertFalse(Files.exists(out));
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.toList(), "the partial folder is removed");
        }
    }

    @Test
    void thePresetsHaveThePublishedShapes() {
        LlamaConfig tiny = ModelShape.parse("tinyllama-1.1b").config(),
                l7 = ModelShape.parse("llama-7b").config();
        LlamaConfig l13 = ModelShape.parse("llama-13b").config(),
                l3 = ModelShape.parse("llama3-8b").config();
        assertEquals(1_100_048_384L, tiny.parameterCount());
        assertEquals(6_738_415_616L, l7.parameterCount());
        assertEquals(13_015_864_320L, l13.parameterCount());
        assertEquals(8_030_261_248L, l3.parameterCount());
        assertEquals(500000f, l3.ropeTheta());
        assertEquals(128000, ModelShape.parse("llama3-8b").bos());
        // meta-llama's fp16 repositories were saved with max_shard_size 10GB: 2 shards for Llama-2-7b-hf, 3 for 13b-hf
        ShardPlan seven = ShardPlan.split(SyntheticCheckpoint.stateDict(l7, DType.F16), 10_000_000_000L);
        assertEquals(2, seven.shards().size());
        assertEquals(2 * l7.parameterCount(), seven.totalBytes());
        assertEquals("model-00001-of-00002.safetensors", seven.fileName(0));
        assertEquals(
                3,
                ShardPlan.split(SyntheticCheckpoint.stateDict(l13, DType.F16), 10_000_000_000L)
                        .shards()
                        .size());
    }

    static float[] values(Path dir, String name) {
        Path file = dir.resolve("model.safetensors");
        if (!Files.exists(file)) {
            try {
                JsonNode index = JSON.readTree(
                        dir.resolve("model.safetensors.index.json").toFile());
                file = dir.resolve(index.get("weight_map").get(name).asText());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = SafetensorsFile.open(file, arena).tensor(name);
            float[] v = new float[(int) t.numel()];
            for (int i = 0; i < v.length; i++)
                v[i] = t.dtype() == DType.F32
                        ? t.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i)
                        : Float.intBitsToFloat(
                                (t.segment().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xFFFF) << 16);
            return v;
        }
    }
}
