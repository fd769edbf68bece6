package dev.lowbit.methods.pretrain;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.IoReason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The default model's text: five Austen novels to train on, Persuasion held out (the split
 * ../shared/data/README.md suggests). Looked up in --data, then LOWBIT_DATA, then ../shared/data
 * beside the project; failing those, rebuilt from Debian's package into ~/.cache/lowbit/data.
 */
public final class Corpus {
    public static final List<String> TRAIN = List.of(
            "austen-emma.txt",
            "austen-mansfield-park.txt",
            "austen-northanger-abbey.txt",
            "austen-pride-and-prejudice.txt",
            "austen-sense-and-sensibility.txt");
    public static final String HELD_OUT = "austen-persuasion.txt";

    private Corpus() {}

    /** The data folder: the given one, or LOWBIT_DATA, or shared/data beside the project root. */
    public static Path locate(Path given, Path projectRoot) {
        if (given != null) return requireFolder(given);
        String env = System.getenv("LOWBIT_DATA");
        if (env != null && !env.isBlank()) return requireFolder(Path.of(env));
        Path shared =
                projectRoot.resolve("..").resolve("shared").resolve("data").normalize();
        if (Files.isDirectory(shared)) return shared;
        Path cache = Path.of(System.getProperty("user.home"), ".cache", "lowbit", "data");
        try {
            return requireFolder(DebianCorpus.fetch(cache, System.err));
        } catch (LowbitException e) {
            throw new LowbitException("no training text: name a data folder (on the command line: --data DIR) holding "
                    + String.join(", ", TRAIN)
                    + ", or set LOWBIT_DATA; " + shared + " does not exist and fetching from Debian failed: "
                    + e.getMessage());
        }
    }

    private static Path requireFolder(Path p) {
        for (String f : TRAIN)
            if (!Files.isRegularFile(p.resolve(f)))
                throw new LowbitException(p + " lacks " + f + " (the training novels)");
        return p;
    }

    /** The five training novels joined by blank lines. */
    public static String trainingText(Path dir) {
        StringBuilder sb = new StringBuilder();
        for (String f : TRAIN) sb.append(read(dir.resolve(f))).append("\n\n");
        return sb.toString();
    }

    public static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new LowbitException("cannot read " + file + ": " + IoReason.of(e, file), e);
        }
    }
}
