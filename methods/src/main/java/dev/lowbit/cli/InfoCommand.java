package dev.lowbit.cli;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.runtime.Blas;
import dev.lowbit.runtime.CudaProbe;
import dev.lowbit.runtime.Native;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code lowbit info}: what this installation runs on. */
@Command(name = "info", description = "Show the JDK, CPU SIMD level, native libraries, CUDA status and BLAS in use.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Runtime.Version jdk = Runtime.version();
        out.printf("JDK:       %s (%s, %s)%n", jdk, System.getProperty("java.vendor"), System.getProperty("java.home"));
        out.printf("CPU:       %s, %d hardware threads%n", cpuModel(), Runtime.getRuntime().availableProcessors());
        out.printf("SIMD:      %s in use (best available: %s)%n", Native.simdLevel(), Native.maxSimdLevel());
        out.printf("liblowbit: %s, %s (version %s, %d OpenMP threads)%n", Native.libraryPath(),
                NativeLibraries.lowbitOrigin(), Native.version(), Native.threads());
        CudaProbe.Status cuda = CudaProbe.probe();
        out.printf("CUDA:      %s — %s%n", cuda.usable() ? "available" : "not available", cuda.detail());
        String blas;
        try {
            blas = Blas.libraryPath() + Blas.describe().map(d -> " — " + d).orElse("");
        } catch (UnsatisfiedLinkError e) {
            blas = "none — " + e.getMessage();
        }
        out.printf("BLAS:      %s%n", blas);
        out.flush();
        return 0;
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
        } catch (IOException | RuntimeException ignored) {
            // not Linux, or /proc unreadable: fall through
        }
        return System.getProperty("os.arch");
    }
}
