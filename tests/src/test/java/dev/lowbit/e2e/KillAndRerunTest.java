package dev.lowbit.e2e;

import static dev.lowbit.e2e.CliModelTest.SHARED;
import static dev.lowbit.e2e.CliModelTest.STORIES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.methods.pretrain.Corpus;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Fault tests: an RTN, DL-QAT, QLLM, GPTQ or pretraining run in its own JVM (the CLI) is killed with
 * SIGKILL at seeded random points, then the same command runs again. The rerun's model must equal
 * an uninterrupted run's byte for byte, or the rerun must refuse with one clear line.
 */
class KillAndRerunTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final long[] SEEDS = {21, 42};

    /** The small settings of each job; data is a folder of novels for pretraining. */
    private static List<String> command(String job, Path data) {
        String stories = STORIES.toString();
        return switch (job) {
            case "rtn" ->
                List.of("quantize", "--method", "rtn", "--group", "-1", "--seq-len", "16", "--model", stories);
            case "dlqat" ->
                List.of(
                        "quantize",
                        "--method",
                        "dlqat",
                        "--wbits",
                        "3",
                        "--group",
                        "-1",
                        "--seq-len",
                        "16",
                        "--steps",
                        "12",
                        "--checkpoint-every",
                        "3",
                        "--batch",
                        "2",
                        "--rank",
                        "2",
                        "--model",
                        stories);
            case "gptq" ->
                List.of(
                        "quantize",
                        "--method",
                        "gptq",
                        "--wbits",
                        "3",
                        "--group",
                        "-1",
                        "--seq-len",
                        "16",
                        "--calib-samples",
                        "4",
                        "--model",
                        stories);
            case "qllm" ->
                List.of(
                        "quantize",
                        "--method",
                        "qllm",
                        "--wbits",
                        "4",
                        "--abits",
                        "8",
                        "--seq-len",
                        "16",
                        "--steps",
                        "4",
                        "--batch",
                        "2",
                        "--calib-samples",
                        "4",
                        "--blocks-per-round",
                        "1",
                        "--search-tokens",
                        "32",
                        "--model",
                        stories);
            default ->
                List.of(
                        "pretrain",
                        "--dim",
                        "32",
                        "--layers",
                        "1",
                        "--heads",
                        "2",
                        "--kv-heads",
                        "1",
                        "--hidden",
                        "64",
                        "--vocab",
                        "260",
                        "--seq-len",
                        "32",
                        "--batch",
                        "2",
                        "--steps",
                        "30",
                        "--data",
                        SHARED.resolve("data").toString());
        };
    }

    record Run(int code, String output, long millis) {}

    /** Runs the job into out in a fresh JVM; killAfterMs >= 0 sends SIGKILL after that long. */
    private static Run run(String job, Path out, Path data, long killAfterMs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-Dlowbit.home=" + ROOT,
                "-cp",
                System.getProperty("java.class.path"),
                "dev.lowbit.cli.LowbitCli"));
        cmd.addAll(command(job, data));
        cmd.addAll(List.of("--out", out.toString()));
        File log = Files.createTempFile("lowbit-kill", ".log").toFile();
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(log)
                .start();
        if (killAfterMs >= 0 && !p.waitFor(killAfterMs, TimeUnit.MILLISECONDS)) p.destroyForcibly(); // SIGKILL
        int code = p.waitFor();
        String output = Files.readString(log.toPath(), StandardCharsets.UTF_8);
        Files.delete(log.toPath());
        return new Run(code, output, (System.nanoTime() - t0) / 1_000_000);
    }

    @ParameterizedTest
    @ValueSource(strings = {"rtn", "dlqat", "qllm", "gptq", "pretrain"})
    void aKilledRunRerunEqualsAnUninterruptedOneOrRefusesClearly(String job, @TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        if (job.equals("pretrain"))
            assumeTrue(Files.isDirectory(SHARED.resolve("data")), "no training novels at " + SHARED.resolve("data"));
        Path data = dir.resolve("data");
        if (job.equals("pretrain")) {
            // the first 40,000 characters of each novel: the tokenizer trains in a moment
            Files.createDirectories(data);
            for (String f : Stream.concat(Corpus.TRAIN.stream(), Stream.of(Corpus.HELD_OUT))
                    .toList()) {
                String text = Files.readString(SHARED.resolve("data").resolve(f));
                Files.writeString(data.resolve(f), text.substring(0, Math.min(40_000, text.length())));
            }
        }
        Path reference = dir.resolve("reference");
        Run whole = run(job, reference, data, -1);
        assertEquals(0, whole.code(), whole.output());
        byte[] expected = Files.readAllBytes(reference.resolve("model.safetensors"));
        for (long seed : SEEDS) {
            Path out = dir.resolve("killed-" + seed);
            // a point anywhere from JVM start to the end of an uninterrupted run
            long at = new SplittableRandom(seed).nextLong(whole.millis());
            Run killed = run(job, out, data, at);
            Run again = run(job, out, data, -1);
            String what = job + " killed after " + at + " of " + whole.millis() + " ms (exit " + killed.code() + ")";
            System.out.println(what + ": rerun " + (again.code() == 0 ? "equals the uninterrupted run" : "refused"));
            if (again.code() == 0) {
                assertArrayEquals(
                        expected, Files.readAllBytes(out.resolve("model.safetensors")), what + ": the rerun's weights");
                assertEquals(
                        Files.readString(reference.resolve("config.json")),
                        Files.readString(out.resolve("config.json")),
                        what);
            } else {
                List<String> lines = again.output()
                        .lines()
                        .filter(l -> l.startsWith("lowbit "))
                        .toList();
                assertEquals(1, lines.size(), what + ": the rerun refuses in one line:\n" + again.output());
                assertTrue(!again.output().contains("\tat "), what + ": no trace\n" + again.output());
            }
            try (Stream<Path> beside = Files.list(dir)) { // the staging folder and lock of OutputFolder are hidden
                List<String> names = beside.map(p -> p.getFileName().toString())
                        .filter(n -> n.startsWith("."))
                        .toList();
                assertEquals(List.of(), names, what + ": no staging folder or lock left beside --out");
            }
        }
    }
}
