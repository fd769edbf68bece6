package dev.lowbit.cli;

import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.gguf.GgufExport;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit export}: a model in another tool's format (GGUF for llama.cpp). */
@Command(
        name = "export",
        description = "Write a model (full precision or quantized) as a GGUF file for llama.cpp, Ollama, LM Studio.")
final class ExportCommand implements Callable<Integer> {
    /** The formats export writes. */
    enum Format {
        gguf
    }

    @Spec
    CommandSpec spec;

    @Mixin
    SharedOptions.ModelOption model;

    @Option(names = "--format", description = "output format: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    Format format = Format.gguf;

    @Option(names = "--out", required = true, description = "the file to write (written under a temporary name first)")
    Path out;

    @Override
    public Integer call() {
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded m = ModelFiles.open(model.get(), arena);
            List<GgufExport.TensorReport> report = GgufExport.save(m.model(), m.tokenizer(), model.get(), out);
            print(spec.commandLine().getOut(), report, out);
        }
        return 0;
    }

    /** One line per tensor: its GGUF type and the largest weight difference the export made. */
    static void print(PrintWriter w, List<GgufExport.TensorReport> report, Path out) {
        for (GgufExport.TensorReport r : report)
            w.printf("%-28s %-5s max |dw| %.3g%n", r.name(), r.type(), r.maxAbsDiff());
        w.printf("wrote %s (%d tensors)%n", out, report.size());
        w.flush();
    }
}
