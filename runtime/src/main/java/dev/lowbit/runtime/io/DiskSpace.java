package dev.lowbit.runtime.io;

import dev.lowbit.runtime.LowbitException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Checks, before anything is written, that a folder's filesystem has room for what will be written there. */
public final class DiskSpace {
    private static final long SPARE_BYTES = 16L << 20; // headroom beyond the files, for the filesystem's own blocks

    private DiskSpace() {}

    /** Fails with the size needed and free when dir (or its nearest existing parent) has less than bytes free. */
    public static void check(Path dir, long bytes, String what) {
        Path existing = dir.toAbsolutePath();
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return;
        try {
            long free = Files.getFileStore(existing).getUsableSpace();
            if (free < bytes + SPARE_BYTES) {
                String why = "the disk is full for it: " + what + " needs " + size(bytes) + " but " + existing + " has "
                        + size(free) + " free";
                // an I/O condition (exit code 3), found before the first byte is written
                throw new LowbitException(
                        "cannot write " + dir + ": " + why + "; free some space or write elsewhere",
                        new IOException(why));
            }
        } catch (IOException e) {
            // a filesystem that cannot say its free space: a full disk still ends in a clear error while writing
        }
    }

    /** bytes as "1.23 GB" or "45.6 MB". */
    public static String size(long bytes) {
        if (bytes >= 1e9) return String.format(Locale.ROOT, "%.2f GB", bytes / 1e9);
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }
}
