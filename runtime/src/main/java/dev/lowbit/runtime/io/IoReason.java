package dev.lowbit.runtime.io;

import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/**
 * Why a file operation failed, in words: the JDK's messages often repeat only the path ("cannot
 * read X: X" for a missing file) or the decoder's state ("Input length = 1" for bad UTF-8).
 */
public final class IoReason {
    private IoReason() {}

    /** The reason. */
    public static String of(IOException e) {
        return of(e, null);
    }

    /** The reason, leaving out the path when it is the one the caller names already. */
    public static String of(IOException e, Path named) {
        String other = e instanceof FileSystemException f
                        && f.getFile() != null
                        && (named == null || !Path.of(f.getFile()).equals(named))
                ? " (" + f.getFile() + ")"
                : "";
        return switch (e) {
            case NoSuchFileException n -> "no such file or folder" + other;
            case AccessDeniedException a -> "permission denied" + other;
            case NotDirectoryException n -> "a file is in the way where a folder is needed" + other;
            case FileAlreadyExistsException f -> "it already exists" + other;
            case DirectoryNotEmptyException d -> "the folder is not empty" + other;
            case CharacterCodingException c -> "it is not UTF-8 text (give a UTF-8 file)";
            case EOFException eof -> "it ends early (truncated?)";
            case FileSystemException f when f.getReason() != null -> diskFull(f.getReason()) + other;
            default -> e.getMessage() == null ? e.getClass().getSimpleName() : diskFull(e.getMessage());
        };
    }

    private static String diskFull(String message) {
        return message.contains("No space left")
                ? "the disk is full (" + message + "); free space or write elsewhere"
                : message;
    }

    /**
     * Whether the failure lies with the machine (permissions, a full disk, a failing device)
     * rather than with what the user named (a missing file, a file where a folder should be, text that is not
     * UTF-8, a truncated file).
     */
    public static boolean isSystemFailure(IOException e) {
        return !(e instanceof NoSuchFileException
                || e instanceof NotDirectoryException
                || e instanceof FileAlreadyExistsException
                || e instanceof CharacterCodingException
                || e instanceof EOFException
                || e.getClass().getName().startsWith("com.fasterxml.jackson"));
    }
}
