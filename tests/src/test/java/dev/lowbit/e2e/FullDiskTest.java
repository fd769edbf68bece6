package dev.lowbit.e2e;

import static dev.lowbit.e2e.CliModelTest.STORIES;
import static dev.lowbit.e2e.CliModelTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A full disk while the model is written: exit code 3, one line saying so, and nothing left on the disk. */
class FullDiskTest {
    private static int sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int code = p.waitFor();
        if (code != 0) System.err.println(String.join(" ", cmd) + ": " + out.strip());
        return code;
    }

    @Test
    void quantizingOntoAFullDiskFailsCleanly(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path disk = Files.createDirectories(dir.resolve("disk"));
        // 64 KiB: room for the lock and config.json, not for the quantized weights (~200 KB)
        assumeTrue(
                sh("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", disk.toString()) == 0,
                "cannot mount a small tmpfs here (needs root and mount rights in this container)");
        try {
            Path out = disk.resolve("q");
            CliModelTest.Result r = run(
                    "quantize",
                    "--group",
                    "-1",
                    "--seq-len",
                    "16",
                    "--model",
                    STORIES.toString(),
                    "--out",
                    out.toString());
            assertEquals(3, r.code(), r.err());
            // progress lines come first; the failure is the one "lowbit quantize:" line, last
            List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
            assertEquals(1, lines.stream().filter(l -> l.startsWith("lowbit ")).count(), r.err());
            assertTrue(lines.getLast().startsWith("lowbit quantize: cannot write "), r.err());
            assertTrue(lines.getLast().contains("the disk is full"), r.err());
            assertFalse(r.err().contains("\tat "), r.err());
            try (Stream<Path> left = Files.list(disk)) {
                assertEquals(List.of(), left.toList(), "nothing left on the full disk");
            }
        } finally {
            sh("umount", disk.toString());
        }
    }
}
