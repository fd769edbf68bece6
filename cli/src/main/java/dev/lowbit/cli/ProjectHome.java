package dev.lowbit.cli;

import java.nio.file.Path;

/** The project folder the ./lowbit script runs from (-Dlowbit.home), or the working folder. */
final class ProjectHome {
    private ProjectHome() {}

    static Path get() {
        String h = System.getProperty("lowbit.home");
        return h == null ? Path.of("").toAbsolutePath() : Path.of(h);
    }
}
