package dev.lowbit.runtime.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Memory-maps a whole checkpoint file read-only, with the errors a user can act on. */
final class MappedFile {
    private MappedFile() {}

    static MemorySegment map(Path path, Arena arena) {
        try (FileChannel ch = FileChannel.open(path)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path + ": no such file");
        } catch (IOException e) {
            throw new CheckpointException(path + ": cannot read (" + e.getMessage() + ")", e);
        }
    }
}
