package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.cli.LowbitCli;
import dev.lowbit.runtime.io.Llama2cCheckpoint;
import dev.lowbit.runtime.model.KvCache;
import dev.lowbit.runtime.model.LlamaModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** generate and eval as a user runs them, on stories260K and on the committed default model. */
class CliModelTest {
    static final Path SHARED = Path.of(System.getProperty("lowbit.shared.dir", "../../shared"));
    static final Path STORIES = SHARED.resolve("models").resolve("stories260K.bin");
    static final Path DEFAULT =
            Path.of("..", "models", "default").toAbsolutePath().normalize();

    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new Result(
                    LowbitCli.run(args), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void greedyGenerationOfStories260KMatchesTheModel() {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Result r = run("generate", "--model", STORIES.toString(), "--max-tokens", "12", "--temperature", "0");
        assertEquals(0, r.code(), r.err());
        StringBuilder expected = new StringBuilder("[1] ->");
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = new LlamaModel(Llama2cCheckpoint.load(STORIES, arena));
            KvCache cache = model.newCache(arena);
            int token = 1;
            for (int i = 0; i < 12; i++) {
                float[] logits = model.forward(arena, new int[] {token}, cache).toFloatArray();
                int best = 0;
                for (int j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
                token = best;
                expected.append(' ').append(token);
            }
        }
        assertEquals(expected.toString(), r.out().strip());
    }

    @Test
    void evalAgainstItselfHasNoDivergence() throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Result r = run(
                "eval",
                "--model",
                STORIES.toString(),
                "--reference",
                STORIES.toString(),
                "--seq-len",
                "32",
                "--kl-sequences",
                "2",
                "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(0, j.get("kl_to_reference").asDouble(), 1e-6);
        assertEquals(1.0, j.get("top1_agreement").asDouble());
        assertEquals(64, j.get("kl_positions").asInt());
    }

    @Test
    void defaultModelReportsHeldOutPerplexity() throws Exception {
        assumeTrue(Files.isRegularFile(DEFAULT.resolve("model.safetensors")), "no default model at " + DEFAULT);
        assumeTrue(Files.isDirectory(SHARED.resolve("data")), "no ../shared/data for the held-out text");
        Result r = run(
                "eval",
                "--model",
                DEFAULT.toString(),
                "--data",
                SHARED.resolve("data").toString(),
                "--max-windows",
                "20",
                "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        double ppl = j.get("perplexity").asDouble();
        assertTrue(
                ppl > 1 && ppl < 200,
                "held-out perplexity of the default model: " + ppl + " (a 4096-token vocabulary is 4096 at chance)");
        assertEquals(20 * 128, j.get("tokens_scored").asInt());
    }

    @Test
    void quantizeWritesTheModelAndTheMetricsEveryMethodReports(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("q4");
        Result r = run(
                "quantize",
                "--method",
                "rtn",
                "--wbits",
                "4",
                "--group",
                "-1",
                "--model",
                STORIES.toString(),
                "--out",
                out.toString(),
                "--seq-len",
                "32",
                "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        for (String key : new String[] {
            "method",
            "wbits",
            "abits",
            "group",
            "fp_perplexity",
            "quant_perplexity",
            "kl_to_fp",
            "trainable_fraction",
            "seconds",
            "peak_rss_mb"
        }) assertTrue(j.has(key), "metrics lack " + key + ": " + j);
        assertEquals(16, j.get("abits").asInt());
        assertTrue(j.get("kl_to_fp").asDouble() > 0);
        assertTrue(j.get("fp_perplexity").isNull(), "stories260K has no tokenizer, so no perplexity");
        assertEquals(j, new ObjectMapper().readTree(out.resolve("metrics.json").toFile()));
        assertReloadsToTheSameKl(out, j, "the saved model reproduces the KL measured before saving");
    }

    /** `eval` of the saved model against stories260K gives the KL quantize measured before saving (its windows: 32 tokens, 16 sequences). */
    private static void assertReloadsToTheSameKl(Path out, JsonNode metrics, String message) throws Exception {
        Result back = run(
                "eval",
                "--model",
                out.toString(),
                "--reference",
                STORIES.toString(),
                "--seq-len",
                "32",
                "--kl-sequences",
                "16",
                "--json");
        assertEquals(0, back.code(), back.err());
        assertEquals(
                metrics.get("kl_to_fp").asDouble(),
                new ObjectMapper().readTree(back.out()).get("kl_to_reference").asDouble(),
                1e-6,
                message);
    }

    /** QLLM end to end on a real checkpoint: reassembled, corrected, saved with its channel maps, and reloaded to the same KL. */
    @Test
    void qllmWritesAReassembledModelThatReloads(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("w4a4");
        Result r = run(
                "quantize",
                "--method",
                "qllm",
                "--wbits",
                "4",
                "--abits",
                "4",
                "--model",
                STORIES.toString(),
                "--out",
                out.toString(),
                "--calib-samples",
                "8",
                "--batch",
                "4",
                "--steps",
                "4",
                "--seq-len",
                "32",
                "--search-tokens",
                "128",
                "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(
                r.err().contains("block 0 reassembly:") && r.err().contains("error correction, blocks 0-3"), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals("qllm", j.get("method").asText());
        assertEquals(4, j.get("abits").asInt());
        assertEquals("integer", j.get("activation_kernel").asText());
        assertEquals(5, j.get("qllm").get("expansion_ratio").size(), "one entry per block");
        assertTrue(j.get("trainable_fraction").asDouble() > 0);
        assertReloadsToTheSameKl(
                out, j, "the saved model (channel maps, q/k/v bits) reproduces the KL measured before saving");
    }

    /**
     * An interrupted QLLM run (stories260K: rounds of blocks 0-3 and 4) leaves only its checkpoint; other settings are
     * refused; the same command resumes and writes the same model an uninterrupted run does.
     */
    @Test
    void qllmResumesFromTheLastFinishedRound(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("resumed"), straight = dir.resolve("straight");
        List<String> args = List.of(
                "quantize",
                "--method",
                "qllm",
                "--wbits",
                "4",
                "--abits",
                "8",
                "--model",
                STORIES.toString(),
                "--calib-samples",
                "4",
                "--batch",
                "2",
                "--steps",
                "3",
                "--seq-len",
                "16",
                "--search-tokens",
                "32",
                "--json");
        Result first = run(with(args, "--out", out.toString(), "--stop-after", "1"));
        assertEquals(0, first.code(), first.err());
        assertTrue(first.err().contains("stopped after block 3"), first.err());
        assertTrue(Files.isRegularFile(out.resolve("qllm-checkpoint.safetensors")), first.err());
        assertTrue(Files.notExists(out.resolve("model.safetensors")), "no model before the run finishes");

        Result other = run(with(args, "--out", out.toString(), "--rank", "2"));
        assertEquals(1, other.code(), other.err());
        assertTrue(other.err().contains("other settings"), other.err());

        Result resumed = run(with(args, "--out", out.toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(
                resumed.err().contains("resuming QLLM from") && !resumed.err().contains("block 0 reassembly"),
                resumed.err());
        assertTrue(
                Files.notExists(out.resolve("qllm-checkpoint.safetensors")),
                "the checkpoint is removed once the model is written");
        Result whole = run(with(args, "--out", straight.toString()));
        assertEquals(0, whole.code(), whole.err());
        ObjectMapper json = new ObjectMapper();
        assertEquals(
                json.readTree(whole.out()).get("kl_to_fp").asDouble(),
                json.readTree(resumed.out()).get("kl_to_fp").asDouble(),
                0,
                "resuming gives the uninterrupted run's model");
        assertEquals(
                json.readTree(whole.out()).get("trainable_fraction"),
                json.readTree(resumed.out()).get("trainable_fraction"));
        assertEquals( // (the rest of the qllm object differs: phase_seconds are the timings of each run's own rounds)
                json.readTree(whole.out()).get("qllm").get("expansion_ratio"),
                json.readTree(resumed.out()).get("qllm").get("expansion_ratio"),
                "the same channel counts per site");
    }

    private static String[] with(List<String> args, String... more) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    /** An interrupted DL-QAT run leaves only its checkpoint; the same command again resumes and finishes. */
    @Test
    void dlqatResumesFromItsCheckpoint(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("q3");
        String[] args = {
            "quantize",
            "--method",
            "dlqat",
            "--wbits",
            "3",
            "--group",
            "-1",
            "--model",
            STORIES.toString(),
            "--out",
            out.toString(),
            "--steps",
            "4",
            "--batch",
            "2",
            "--seq-len",
            "16",
            "--json"
        };
        Result first = run(with(List.of(args), "--stop-after", "2"));
        assertEquals(0, first.code(), first.err());
        assertTrue(Files.isRegularFile(out.resolve("dlqat-checkpoint.safetensors")), first.err());
        assertTrue(Files.notExists(out.resolve("model.safetensors")), "no model before the run finishes");
        Result second = run(args);
        assertEquals(0, second.code(), second.err());
        assertTrue(second.err().contains("resuming DL-QAT from"), second.err());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        assertTrue(
                Files.notExists(out.resolve("dlqat-checkpoint.safetensors")),
                "the checkpoint is removed once the model is written");
        assertEquals(
                "dlqat", new ObjectMapper().readTree(second.out()).get("method").asText());
    }

    @Test
    void badQuantizeArgumentsWriteNothing(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("out");
        Result r = run("quantize", "--wbits", "5", "--model", STORIES.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("5-bit weights are not supported: use 2, 3, 4, 6 or 8"), r.err());
        r = run("quantize", "--wbits", "4", "--group", "128", "--model", STORIES.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("group size 128 does not divide the 64 input features"), r.err());
        r = run(
                "quantize",
                "--method",
                "dlqat",
                "--wbits",
                "3",
                "--abits",
                "8",
                "--group",
                "-1",
                "--model",
                STORIES.toString(),
                "--out",
                out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("DL-QAT keeps activations at 16 bits"), r.err());
        r = run("quantize", "--method", "qllm", "--model", STORIES.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("give --abits 4, 6 or 8"), r.err());
        r = run("quantize", "--model", dir.resolve("absent.bin").toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("no such model"), r.err());
        assertTrue(Files.notExists(out), "nothing is written when the arguments are wrong");
        Path blocker = dir.resolve("file");
        Files.writeString(blocker, "x");
        r = run(
                "quantize",
                "--group",
                "-1",
                "--model",
                STORIES.toString(),
                "--out",
                blocker.resolve("sub").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("cannot write to --out"), r.err());
    }

    @Test
    void missingModelIsAClearError() {
        Result r = run("eval", "--model", "/no/such/model");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/no/such/model: no such model"), r.err());
    }

    @Test
    void evalWindowsZeroQuantizesWithoutEvaluatingAndReportsAnonymousMemory(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("q");
        Result r = run(
                "quantize",
                "--method",
                "rtn",
                "--wbits",
                "4",
                "--group",
                "-1",
                "--eval-windows",
                "0",
                "--model",
                STORIES.toString(),
                "--out",
                out.toString(),
                "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("evaluation skipped (--eval-windows 0)"), r.err());
        JsonNode m = new ObjectMapper().readTree(out.resolve("metrics.json").toFile());
        assertTrue(m.get("kl_to_fp").isNull(), m.toString());
        assertTrue(
                m.get("peak_anon_mb").asDouble() > 0
                        && m.get("peak_anon_mb").asDouble()
                                <= m.get("peak_rss_mb").asDouble(),
                m.toString());
        Result g = run("generate", "--model", out.toString(), "--max-tokens", "4", "--temperature", "0", "--json");
        assertEquals(0, g.code(), g.err());
    }
}
