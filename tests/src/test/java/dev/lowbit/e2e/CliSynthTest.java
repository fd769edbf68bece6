package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lowbit synth} as a user runs it: a sharded folder that {@code lowbit generate} then runs on token ids. */
class CliSynthTest {
    @TempDir
    Path dir;

    @Test
    void synthWritesAFolderThatGenerateRuns() {
        Path out = dir.resolve("tiny");
        CliInfoTest.Result r = CliInfoTest.run(
                "synth",
                "--shape",
                "dim=64,hidden=160,layers=2,heads=4,kv_heads=2,vocab=96",
                "--dtype",
                "f16",
                "--max-shard-size",
                "20KB",
                "--seed",
                "3",
                "--out",
                out.toString());
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().startsWith("wrote " + out.toAbsolutePath() + ": "), r.out());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors.index.json")), "sharded at 20KB");
        r = CliInfoTest.run(
                "generate", "--model", out.toString(), "--prompt", "1,5,7", "--max-tokens", "4", "--temperature", "0");
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().matches("(?s)\\[1, 5, 7] ->( \\d+){4}\\s*"), r.out());
    }

    @Test
    void aBadShapeOrAnOccupiedFolderIsAOneLineError() throws Exception {
        assertEquals(
                1,
                CliInfoTest.run(
                                "synth",
                                "--shape",
                                "llama-70b",
                                "--out",
                                dir.resolve("x").toString())
                        .code());
        Files.writeString(dir.resolve("taken"), "x");
        assertEquals(
                1,
                CliInfoTest.run("synth", "--shape", "tinyllama-1.1b", "--out", dir.toString())
                        .code());
        assertEquals(0, CliInfoTest.run("synth", "--help").code());
    }
}
