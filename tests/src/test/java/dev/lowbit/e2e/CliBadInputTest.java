package dev.lowbit.e2e;

import static dev.lowbit.e2e.CliModelTest.DEFAULT;
import static dev.lowbit.e2e.CliModelTest.STORIES;
import static dev.lowbit.e2e.CliModelTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.e2e.CliModelTest.Result;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.train.LlamaParameters;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bad inputs of issue 21 that used to end in a stack trace, a silent cap or a NaN result:
 * each now gets one line on stderr (what failed, why, what to do) and a non-zero exit code, and
 * --verbose adds the trace.
 */
class CliBadInputTest {
    private static final String D = DEFAULT.toString();

    /** The command failed with code, a single line on stderr that holds each of the phrases, and no trace. */
    static void refused(Result r, int code, String... phrases) {
        String err = r.err()
                .lines()
                .filter(l -> !l.startsWith("WARNING:")) // the JVM's own start-up warnings
                .reduce("", (a, b) -> a.isEmpty() ? b : a + "\n" + b);
        assertEquals(code, r.code(), r.err());
        assertEquals(1, err.lines().count(), "one line:\n" + err);
        assertFalse(err.contains("\tat ") || err.contains("Exception"), "no trace:\n" + err);
        for (String p : phrases) assertTrue(err.contains(p), "'" + p + "' in\n" + err);
    }

    private static Path copyOfDefault(Path dir, String name) throws Exception {
        Path copy = Files.createDirectories(dir.resolve(name));
        try (Stream<Path> files = Files.list(DEFAULT)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        return copy;
    }

    private static void editConfig(Path model, String field, Object value) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(model.resolve("config.json").toFile());
        c.set(field, json.valueToTree(value));
        json.writeValue(model.resolve("config.json").toFile(), c);
    }

    @Test
    void hugeContextIsRefusedWithTheKvCacheSizeBeforeAllocating(@TempDir Path dir) throws Exception {
        Path model = copyOfDefault(dir, "big");
        editConfig(model, "max_position_embeddings", 1_000_000_000);
        // generate sizes its cache to the prompt and the answer: a huge context costs nothing
        Result small = run("generate", "--model", model.toString(), "--max-tokens", "3");
        assertEquals(0, small.code(), small.err());
        // 4 layers x (k, v) x (1 + 5e8) positions x 128 x 4 bytes
        refused(
                run("generate", "--model", model.toString(), "--max-tokens", "500000000"),
                1,
                "the KV cache of 500,000,001 positions needs 1907.3 GiB");
    }

    @Test
    void nonFiniteLogitsStopTheSamplerWithAMessage(@TempDir Path dir) throws Exception {
        Path model = copyOfDefault(dir, "overflow");
        try (Arena arena = Arena.ofConfined()) {
            // finite weights (the loader accepts them) whose product overflows float: the final norm scaled to 3e38
            LlamaParameters p = HfCheckpoint.load(model, arena);
            var norm = p.get("model.norm.weight");
            for (long i = 0; i < norm.numel(); i++) norm.setFloat(3e38f, i);
            HfCheckpoint.save(p, model, Map.of());
        }
        for (String temperature : new String[] {"0", "0.8"})
            refused(
                    run("generate", "--model", model.toString(), "--max-tokens", "3", "--temperature", temperature),
                    1,
                    "the model produced a logit of",
                    "overflowed");
    }

    @Test
    void negativeTaskLimitAndEmptyTaskFilesAreRefused(@TempDir Path dir) throws Exception {
        refused(
                run("eval", "--model", D, "--task-limit", "-1", "--heldout-tasks"),
                1,
                "--task-limit -1 is out of range");
        Path empty = Files.createFile(dir.resolve("empty.jsonl"));
        refused(
                run("eval", "--model", D, "--max-windows", "1", "--tasks", empty.toString()),
                1,
                empty + " holds no task items");
    }

    @Test
    void benchRefusesEmptyShapesAndMBeforeRunningAnything() {
        refused(run("bench", "--shapes", "0x0", "--m", "0"), 1, "--shapes 0x0 is out of range");
        refused(run("bench", "--shapes", "4096x4096", "--m", "0"), 1, "--m 0 is out of range: give 1 to 4096");
        refused(run("bench", "--shapes", "4096by4096"), 1, "is not N x K");
    }

    @Test
    void optionsAreCheckedForRangeAndNamedAsTyped(@TempDir Path dir) {
        refused(run("eval", "--max-windows", "-3"), 1, "--max-windows -3 is out of range: give 0 or more");
        refused(run("eval", "--kl-sequences", "0"), 1, "--kl-sequences 0 is out of range: give 1 or more");
        refused(run("generate", "--temperature", "Infinity"), 1, "--temperature Infinity is out of range");
        refused(run("generate", "--temperature", "NaN"), 1, "--temperature NaN is out of range");
        refused(run("generate", "--top-p", "0"), 1, "--top-p 0.0 is out of range");
        refused(
                run("generate", "--model", D, "--max-tokens", "100000000"),
                1,
                "--max-tokens 100000000 with the 1-token prompt exceeds the model's context of 256 tokens",
                "give --max-tokens at most 255");
        refused(run("generate", "--max-tokens", "0"), 1, "--max-tokens 0 is out of range");
        Path out = dir.resolve("pt");
        refused(run("pretrain", "--steps", "0", "--out", out.toString()), 1, "--steps 0 is out of range");
        refused(run("pretrain", "--grad-accum", "0", "--out", out.toString()), 1, "--grad-accum 0 is out of range");
        refused(
                run("pretrain", "--dim", "30", "--heads", "4", "--out", out.toString()),
                1,
                "--dim 30 is not a multiple of --heads 4");
        refused(
                run(
                        "quantize",
                        "--eval-windows",
                        "-1",
                        "--out",
                        dir.resolve("q").toString()),
                1,
                "--eval-windows -1 is out of range");
        refused(
                run(
                        "quantize",
                        "--method",
                        "dlqat",
                        "--steps",
                        "0",
                        "--out",
                        dir.resolve("q").toString()),
                1,
                "--steps 0 is out of range");
        assertTrue(Files.notExists(out) && Files.notExists(dir.resolve("q")), "nothing written");
    }

    @Test
    void evalOfATokenizerFreeModelWithoutAReferenceSaysWhatToGive() {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        refused(run("eval", "--model", STORIES.toString()), 1, "has no tokenizer", "--reference MODEL");
    }

    @Test
    void filesThatCannotBeReadAreNamedWithTheReason(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("missing.txt");
        refused(
                run("eval", "--model", D, "--max-windows", "1", "--text", missing.toString()),
                1,
                "cannot read " + missing + ": no such file or folder");
        Path latin1 = Files.write(dir.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xe9, ' ', 'x'});
        refused(
                run("eval", "--model", D, "--max-windows", "1", "--text", latin1.toString()),
                1,
                "cannot read " + latin1 + ": it is not UTF-8 text");
        Path blocker = Files.writeString(dir.resolve("file"), "x");
        refused(
                run(
                        "quantize",
                        "--model",
                        "default",
                        "--out",
                        blocker.resolve("q").toString()),
                1,
                "cannot write to --out " + blocker.resolve("q"));
    }

    @Test
    void usageErrorsAreOneLineWithExitCode2AndVerboseShowsTraces() {
        refused(run("eval", "--bogus"), 2, "Unknown option: '--bogus'", "see lowbit eval --help");
        refused(run("generate", "--max-tokens", "many"), 2, "--max-tokens");
        Result verbose = run("eval", "--task-limit", "-1", "--verbose");
        assertEquals(1, verbose.code());
        assertTrue(verbose.err().contains("\tat dev.lowbit."), "--verbose prints the trace:\n" + verbose.err());
        assertTrue(verbose.err().strip().endsWith("--task-limit -1 is out of range: give 1 or more"), verbose.err());
    }

    @Test
    void helpListsTheExitCodes() {
        for (String[] args : new String[][] {{"--help"}, {"eval", "--help"}, {"quantize", "--help"}}) {
            Result r = run(args);
            assertEquals(0, r.code());
            for (String line : new String[] {
                "Exit codes:",
                "0   success",
                "1   bad input",
                "2   usage error",
                "3   I/O failure",
                "4   internal error"
            }) assertTrue(r.out().contains(line), line + " in\n" + r.out());
        }
    }
}
