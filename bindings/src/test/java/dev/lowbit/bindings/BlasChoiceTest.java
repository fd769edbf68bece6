package dev.lowbit.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Without LOWBIT_BLAS, the OpenMP build of OpenBLAS is chosen where it is installed (one thread pool with liblowbit). */
class BlasChoiceTest {
    @Test
    void theOpenMpBuildWinsWhereInstalled() {
        Path openmp = Path.of("/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0");
        assumeTrue(Files.isRegularFile(openmp), openmp + " is not installed (Debian: libopenblas0-openmp)");
        assumeTrue(
                System.getenv("LOWBIT_BLAS") == null && System.getProperty("lowbit.blas") == null,
                "LOWBIT_BLAS / -Dlowbit.blas chooses the library here");
        assertEquals(openmp, NativeLibraries.loadBlas());
    }
}
