package dev.lowbit.runtime.io;

import dev.lowbit.runtime.LowbitException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * An output folder written as a transaction. Opening it checks that it is not (and neither holds nor lies inside)
 * the input model and holds no finished model unless replacing is asked for, takes an advisory lock beside it
 * ({@code .<name>.lock}, holding the owner's pid) and removes what killed runs left. The run writes its files into
 * {@link #staging()}, a temporary sibling folder; {@link #commit()} moves it into place; closing without a commit
 * removes the staging folder and leaves only the method's resume files (which live in {@link #target()} itself, so
 * a rerun finds them).
 */
public final class OutputFolder implements AutoCloseable {
    /** What a finished model folder may hold; a folder holding anything else is not replaced. */
    private static final Set<String> MODEL_FILES = Set.of(
            "config.json", "model.safetensors", "tokenizer.json", "metrics.json", "gptq", "generation_config.json");

    /** Files whose presence marks a finished model. */
    private static final Set<String> FINISHED = Set.of("config.json", "model.safetensors", "metrics.json");

    private final Path target;
    private final Path staging;
    private final Path lockFile;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final boolean created;
    private boolean committed;

    private OutputFolder(Path target, Path lockFile, FileChannel lockChannel, FileLock lock, boolean created) {
        this.target = target;
        this.lockFile = lockFile;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.created = created;
        this.staging = sibling(target, "staging-" + ProcessHandle.current().pid());
    }

    /**
     * Opens out for a run reading the model at input; resumeFiles are the names of resume files a rerun may find in
     * out (they do not make it finished); force allows replacing a finished model. Refusals are one-line
     * LowbitExceptions; an out that cannot be written throws {@link UncheckedIOException}.
     */
    public static OutputFolder open(Path out, Path input, boolean force, Set<String> resumeFiles) {
        if (out.toString().isEmpty())
            throw new LowbitException("the output folder is \"\" (empty): name a new folder for the model");
        Path target = real(out), model = real(input);
        if (target.equals(model))
            throw new LowbitException("the output folder " + out + " is the input model; write to a new folder");
        if (model.startsWith(target))
            throw new LowbitException(
                    "the output folder " + out + " contains the input model " + input + "; choose a folder outside it");
        if (target.startsWith(model))
            throw new LowbitException("the output folder " + out + " is inside the input model " + input
                    + "; choose a folder outside it");
        if (target.getParent() == null)
            throw new LowbitException(
                    "the output folder " + out + " is a root folder; name a new folder for the model");
        checkContents(out, target, force, resumeFiles);
        Path lockFile = sibling(target, "lock");
        try {
            Files.createDirectories(target.getParent());
            for (int attempt = 0; ; attempt++) {
                FileChannel ch = FileChannel.open(
                        lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
                FileLock lock = tryLock(ch);
                if (lock == null) {
                    ch.close();
                    throw new LowbitException("the output folder " + out + " is in use by another run (pid "
                            + owner(lockFile) + "); wait for it to finish or choose another folder");
                }
                if (claim(ch, lockFile)) {
                    OutputFolder folder = new OutputFolder(target, lockFile, ch, lock, Files.notExists(target));
                    folder.removeStale();
                    Files.createDirectories(folder.staging);
                    return folder;
                }
                ch.close(); // the lock file was removed by a run that just ended: lock the new one
                if (attempt == 10) throw new IOException("the lock file " + lockFile + " keeps being replaced");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The folder the run writes its files into. */
    public Path staging() {
        return staging;
    }

    /** The output folder itself, where resume files live. */
    public Path target() {
        return target;
    }

    /** Moves the staging folder into place, replacing whatever out held (resume files, a model being replaced). */
    public void commit() {
        Path old = sibling(target, "old-" + ProcessHandle.current().pid());
        try {
            boolean replacing = Files.exists(target);
            if (replacing) move(target, old);
            try {
                move(staging, target);
            } catch (IOException e) {
                if (replacing) move(old, target);
                throw e;
            }
            committed = true;
            if (replacing) deleteTree(old);
        } catch (IOException e) {
            throw new CheckpointException("cannot move the finished model into " + target + ": " + e.getMessage(), e);
        }
    }

    /** Removes the staging folder unless committed (and out itself when this run created it and left it empty), then unlocks. */
    @Override
    public void close() {
        try {
            if (!committed) {
                deleteTree(staging);
                if (created && Files.isDirectory(target) && isEmpty(target)) Files.delete(target);
            }
        } catch (IOException ignored) {
            // the run's own error, if any, is the one to report; the next run removes what is left
        } finally {
            try (lockChannel) {
                Files.deleteIfExists(lockFile); // deleted while still locked: see claim
                lock.release();
            } catch (IOException ignored) {
                // closing the channel releases the lock in any case
            }
        }
    }

    private static void checkContents(Path out, Path target, boolean force, Set<String> resumeFiles) {
        if (Files.notExists(target)) return;
        if (!Files.isDirectory(target))
            throw new LowbitException("the output folder " + out + " is a file; name a new folder for the model");
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(target)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                if (!resumeFiles.contains(name) && !isTemporary(name)) names.add(name);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> foreign =
                names.stream().filter(n -> !MODEL_FILES.contains(n)).sorted().toList();
        if (!foreign.isEmpty())
            throw new LowbitException("the output folder " + out + " holds files that are not part of a model ("
                    + String.join(", ", foreign) + "); choose a new or empty folder");
        if (!force && names.stream().anyMatch(FINISHED::contains))
            throw new LowbitException(
                    "the output folder " + out + " already holds a model; replace it (force), or choose a new folder");
    }

    /** Removes what killed runs left: AtomicFiles temporaries in out, staging and replaced folders beside it. */
    private void removeStale() throws IOException {
        if (Files.isDirectory(target))
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(target)) {
                for (Path p : entries) if (isTemporary(p.getFileName().toString())) Files.deleteIfExists(p);
            }
        String prefix = "." + target.getFileName() + ".";
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(target.getParent())) {
            for (Path p : entries) { // this run holds the lock, so any run that made them is gone
                String name = p.getFileName().toString();
                if (name.startsWith(prefix + "staging-") || name.startsWith(prefix + "old-")) deleteTree(p);
            }
        }
    }

    /** AtomicFiles's temporaries: .name.random.tmp */
    private static boolean isTemporary(String name) {
        return name.startsWith(".") && name.endsWith(".tmp");
    }

    private static FileLock tryLock(FileChannel ch) throws IOException {
        try {
            return ch.tryLock();
        } catch (OverlappingFileLockException e) { // held by this JVM
            return null;
        }
    }

    /**
     * Writes this run's pid and a nonce into the locked file and checks that the file at the path is still this one:
     * an ending run deletes the file while it holds the lock, so a run that opened it just before locks a dead file.
     */
    private static boolean claim(FileChannel ch, Path lockFile) throws IOException {
        String mark = ProcessHandle.current().pid() + " " + UUID.randomUUID() + "\n";
        ch.truncate(0);
        ch.write(ByteBuffer.wrap(mark.getBytes(StandardCharsets.UTF_8)), 0);
        ch.force(false);
        try {
            return Files.readString(lockFile).equals(mark);
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    private static String owner(Path lockFile) {
        try {
            String[] words = Files.readString(lockFile).strip().split(" ");
            return words[0].isEmpty() ? "unknown" : words[0];
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static Path sibling(Path target, String what) {
        return target.resolveSibling("." + target.getFileName() + "." + what);
    }

    /** The absolute, normalized path with symbolic links resolved as far as the path exists. */
    private static Path real(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && Files.notExists(existing)) existing = existing.getParent();
        if (existing == null) return abs;
        try {
            return existing.toRealPath().resolve(existing.relativize(abs));
        } catch (IOException e) {
            return abs;
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (Files.notExists(root)) return;
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
