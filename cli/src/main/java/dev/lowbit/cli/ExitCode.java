package dev.lowbit.cli;

import java.util.LinkedHashMap;
import java.util.Map;

/** The exit codes of {@code lowbit}, as --help and the README list them. */
enum ExitCode {
    OK(0, "success"),
    BAD_INPUT(1, "bad input: a model, file or option value lowbit cannot use (the message says which and what to do)"),
    USAGE(2, "usage error: an unknown command or option, a missing or malformed value"),
    IO(3, "I/O failure: a file could not be read or written (permissions, a full disk)"),
    INTERNAL(4, "internal error: a bug in lowbit (rerun with --verbose and report the trace)");

    final int code;
    private final String meaning;

    ExitCode(int code, String meaning) {
        this.code = code;
        this.meaning = meaning;
    }

    /** picocli's exit-code list: code to meaning, in order. */
    static Map<String, String> helpList() {
        Map<String, String> list = new LinkedHashMap<>();
        for (ExitCode c : values()) list.put(String.valueOf(c.code), c.meaning);
        return list;
    }
}
