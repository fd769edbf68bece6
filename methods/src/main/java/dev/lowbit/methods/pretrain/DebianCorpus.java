package dev.lowbit.methods.pretrain;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.AtomicFiles;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import java.util.zip.InflaterInputStream;

/**
 * Rebuilds the Austen texts on a machine without ../shared, from Debian's r-cran-janeaustenr
 * package (fetched with {@code apt-get download}, unpacked with {@code dpkg-deb -x}): its data is an
 * R lazy-load database, an index (gzip, R serialization) of offsets into a file of zlib blocks,
 * each a serialized character vector of the novel's lines, written out joined by newlines.
 */
public final class DebianCorpus {
    static final String PACKAGE = "r-cran-janeaustenr";
    /** File name in ../shared/data -> variable in the package's data. */
    static final Map<String, String> NOVELS = Map.of(
            "austen-emma.txt",
            "emma",
            "austen-mansfield-park.txt",
            "mansfieldpark",
            "austen-northanger-abbey.txt",
            "northangerabbey",
            "austen-pride-and-prejudice.txt",
            "prideprejudice",
            "austen-sense-and-sensibility.txt",
            "sensesensibility",
            "austen-persuasion.txt",
            "persuasion");

    private DebianCorpus() {}

    /** Fetches and extracts the novels into target (if not already there) and returns it. */
    public static Path fetch(Path target, PrintStream log) {
        if (NOVELS.keySet().stream().allMatch(f -> Files.isRegularFile(target.resolve(f)))) return target;
        try {
            Path work = Files.createTempDirectory("lowbit-deb");
            log.printf("fetching the Austen novels from Debian's %s package into %s ...%n", PACKAGE, target);
            try {
                run(work, "apt-get", "download", PACKAGE);
            } catch (LowbitException stalePackageLists) { // a fresh machine may never have run apt-get update
                run(work, "apt-get", "update");
                run(work, "apt-get", "download", PACKAGE);
            }
            Path deb;
            try (var files = Files.list(work)) {
                deb = files.filter(p -> p.getFileName().toString().endsWith(".deb"))
                        .findFirst()
                        .orElseThrow(() -> new LowbitException("apt-get download " + PACKAGE + " produced no .deb"));
            }
            run(work, "dpkg-deb", "-x", deb.toString(), work.resolve("x").toString());
            extract(work.resolve("x/usr/lib/R/site-library/janeaustenr/data"), target);
            return target;
        } catch (IOException e) {
            throw new LowbitException("cannot fetch " + PACKAGE + ": " + e.getMessage());
        }
    }

    /** Writes every novel of the package's data folder (Rdata.rdx, Rdata.rdb) into target. */
    static void extract(Path dataDir, Path target) throws IOException {
        byte[] index;
        try (var in = new GZIPInputStream(Files.newInputStream(dataDir.resolve("Rdata.rdx")))) {
            index = in.readAllBytes();
        }
        RSerialization.RList variables =
                (RSerialization.RList) ((RSerialization.RList) RSerialization.read(index)).get("variables");
        byte[] db = Files.readAllBytes(dataDir.resolve("Rdata.rdb"));
        for (Map.Entry<String, String> novel : NOVELS.entrySet()) {
            int[] at = (int[]) variables.get(novel.getValue());
            List<?> lines = (List<?>) RSerialization.read(inflate(db, at[0], at[1]));
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < lines.size(); i++)
                text.append(i == 0 ? "" : "\n").append(lines.get(i) == null ? "" : lines.get(i));
            byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
            AtomicFiles.write(target.resolve(novel.getKey()), ch -> ch.write(ByteBuffer.wrap(bytes)));
        }
    }

    /** One lazy-load block: a 4-byte big-endian length, then a zlib stream. */
    private static byte[] inflate(byte[] db, int offset, int length) throws IOException {
        if (offset < 0 || length < 5 || offset + length > db.length)
            throw new LowbitException("Rdata.rdb block out of range");
        int size = ByteBuffer.wrap(db, offset, 4).getInt();
        try (var in = new InflaterInputStream(new ByteArrayInputStream(db, offset + 4, length - 4))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(size);
            in.transferTo(out);
            return out.toByteArray();
        }
    }

    private static void run(Path dir, String... command) throws IOException {
        Process p = new ProcessBuilder(command)
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0)
                throw new LowbitException(String.join(" ", command) + " failed: " + output.strip());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LowbitException(String.join(" ", command) + " was interrupted");
        }
    }
}
