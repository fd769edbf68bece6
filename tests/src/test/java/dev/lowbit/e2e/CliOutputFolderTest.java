package dev.lowbit.e2e;

import static dev.lowbit.e2e.CliModelTest.STORIES;
import static dev.lowbit.e2e.CliModelTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.e2e.CliModelTest.Result;
import dev.lowbit.runtime.io.OutputFolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `lowbit quantize --out` as a transaction: refused folders, the lock, nothing half-written left behind. */
class CliOutputFolderTest {
    private static Result quantize(Path model, Path out, String... more) {
        String[] args = {
            "quantize", "--group", "-1", "--seq-len", "16", "--model", model.toString(), "--out", out.toString()
        };
        return run(Stream.concat(Stream.of(args), Stream.of(more)).toArray(String[]::new));
    }

    private static Set<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return Set.copyOf(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void outThatIsHoldsOrLiesInTheModelIsRefused(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path copy = Files.copy(STORIES, dir.resolve("m.bin"));
        Result same = quantize(copy, copy);
        assertEquals(1, same.code());
        assertTrue(same.err().contains("is the input model; write to a new folder"), same.err());
        Result holds = quantize(copy, dir);
        assertEquals(1, holds.code());
        assertTrue(holds.err().contains("contains the input model"), holds.err());
        Result inside = quantize(copy, copy.resolve("q"));
        assertEquals(1, inside.code());
        assertTrue(inside.err().contains("is inside the input model"), inside.err());
        Result empty = quantize(copy, Path.of(""));
        assertEquals(1, empty.code());
        assertTrue(empty.err().contains("name a new folder"), empty.err());
        assertEquals(Set.of("m.bin"), names(dir), "nothing written");
        assertEquals(Files.size(STORIES), Files.size(copy));
    }

    @Test
    void finishedModelIsKeptUnlessForcedAndAQuantizedModelIsNoInput(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("q");
        Result first = quantize(STORIES, out);
        assertEquals(0, first.code(), first.err());
        assertTrue(names(out).containsAll(Set.of("model.safetensors", "config.json", "metrics.json")));
        assertEquals(Set.of("q"), names(dir), "no staging folder or lock left beside it");

        Result again = quantize(STORIES, out);
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already holds a model; replace it (force)"), again.err());
        Result forced = quantize(STORIES, out, "--wbits", "8", "--force");
        assertEquals(0, forced.code(), forced.err());
        assertEquals(
                8,
                new ObjectMapper()
                        .readTree(out.resolve("metrics.json").toFile())
                        .get("wbits")
                        .asInt());

        Result requantize = quantize(out, dir.resolve("qq"));
        assertEquals(1, requantize.code());
        assertTrue(
                requantize.err().contains(out + " is already quantized; quantize its full-precision original"),
                requantize.err());
        assertTrue(Files.notExists(dir.resolve("qq")));
    }

    @Test
    void aLockedFolderIsRefusedNamingThePid(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("q");
        try (OutputFolder held = OutputFolder.open(out, STORIES, false, Set.of())) {
            Result r = quantize(STORIES, out);
            assertEquals(1, r.code());
            assertTrue(
                    r.err()
                            .contains("in use by another run (pid "
                                    + ProcessHandle.current().pid() + ")"),
                    r.err());
        }
        Result r = quantize(STORIES, out);
        assertEquals(0, r.code(), "the lock is released: " + r.err());
    }

    @Test
    void failedRunsLeaveNothingAndStaleTemporariesAreRemoved(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path out = dir.resolve("q");
        // the group size is checked once the model is loaded, after the folder is opened and locked
        Result bad = run("quantize", "--group", "128", "--model", STORIES.toString(), "--out", out.toString());
        assertEquals(1, bad.code(), bad.err());
        assertEquals(Set.of(), names(dir), "a failed run leaves nothing: " + bad.err());

        Files.createDirectories(out);
        Files.writeString(out.resolve(".model.safetensors.123.tmp"), "x");
        Files.createDirectories(dir.resolve(".q.staging-99999"));
        Files.writeString(dir.resolve(".q.staging-99999").resolve("config.json"), "{}");
        Result r = quantize(STORIES, out);
        assertEquals(0, r.code(), r.err());
        assertEquals(Set.of("q"), names(dir));
        assertTrue(
                names(out).stream().noneMatch(n -> n.endsWith(".tmp")),
                names(out).toString());
    }
}
