package dev.lowbit.methods;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.methods.pretrain.DebianCorpus;
import dev.lowbit.runtime.LowbitException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The novels rebuilt from Debian's r-cran-janeaustenr package are byte-identical to ../shared/data. */
class DebianCorpusTest {
    static final Path SHARED = Path.of(System.getProperty("lowbit.shared.dir", "../../shared"), "data");

    @TempDir
    Path dir;

    @Test
    void novelsFromTheDebianPackageEqualTheSharedCopies() throws IOException {
        assumeTrue(Files.isDirectory(SHARED), "no ../shared/data to compare with");
        assumeTrue(
                Files.isExecutable(Path.of("/usr/bin/apt-get")) && Files.isExecutable(Path.of("/usr/bin/dpkg-deb")),
                "not a Debian-based machine (apt-get, dpkg-deb)");
        try {
            DebianCorpus.fetch(dir, new PrintStream(OutputStream.nullOutputStream()));
        } catch (LowbitException e) {
            if (!e.getMessage().contains("apt-get")) throw e; // a parsing failure is a real failure
            assumeTrue(false, "Debian's archive is unreachable here: " + e.getMessage());
        }
        for (String f : new String[] {
            "austen-emma.txt",
            "austen-mansfield-park.txt",
            "austen-northanger-abbey.txt",
            "austen-pride-and-prejudice.txt",
            "austen-sense-and-sensibility.txt",
            "austen-persuasion.txt"
        }) assertArrayEquals(Files.readAllBytes(SHARED.resolve(f)), Files.readAllBytes(dir.resolve(f)), f);
    }
}
