package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.bindings.NativeLibraries;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** In a fresh JVM, -Dlowbit.native.dir overrides the library packed in the jar. */
class NativeDirTest {
    @Test
    void nativeDirPropertyIsWhereLiblowbitComesFrom() throws IOException, InterruptedException {
        // surefire runs in the module folder; the CMake build is beside it
        Path built = Path.of("..", "native", "build", "lib", NativeLibraries.platform())
                .toAbsolutePath()
                .normalize();
        assumeTrue(
                Files.isRegularFile(built.resolve(System.mapLibraryName("lowbit"))),
                "no CMake build folder at " + built + " (tests run outside the source tree)");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(
                        java.toString(),
                        "--enable-native-access=ALL-UNNAMED",
                        "-Dlowbit.native.dir=" + built,
                        "-cp",
                        System.getProperty("java.class.path"),
                        "dev.lowbit.cli.LowbitCli",
                        "info")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(
                out.contains("liblowbit: " + built.resolve(System.mapLibraryName("lowbit"))
                        + ", from -Dlowbit.native.dir / LOWBIT_NATIVE_DIR"),
                out);
    }
}
