package dev.lowbit.cli;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.runtime.kernels.cpu.Blas;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.Device;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code lowbit info}: what this installation runs on. */
@Command(
        name = "info",
        description = "Show the JDK, CPU SIMD level, native libraries, CUDA status (GPUs, cuBLAS) and BLAS in use.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Runtime.Version jdk = Runtime.version();
        out.printf("JDK:       %s (%s, %s)%n", jdk, System.getProperty("java.vendor"), System.getProperty("java.home"));
        out.printf(
                "CPU:       %s, %d hardware threads%n",
                cpuModel(), Runtime.getRuntime().availableProcessors());
        out.printf("SIMD:      %s in use (best available: %s)%n", Native.simdLevel(), Native.maxSimdLevel());
        out.printf(
                "liblowbit: %s, %s (version %s, %d OpenMP threads)%n",
                Native.libraryPath(), NativeLibraries.lowbitOrigin(), Native.version(), Native.threads());
        out.printf("OpenMP:    wait policy %s%n", NativeLibraries.ompWaitPolicy());
        if (Cuda.available()) {
            out.printf("CUDA:      available — %s%n", Cuda.versions());
            for (Cuda.Gpu gpu : Cuda.gpus()) out.printf("GPU:       %s%n", gpu);
            out.printf("cuBLAS:    %s%n", cublasVersion());
        } else {
            out.printf("CUDA:      not available — %s%n", Cuda.unavailableReason());
        }
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

    private static String cublasVersion() {
        try {
            int v = Cuda.cublasVersion(Device.cuda(0));
            return v / 10000 + "." + (v / 100) % 100 + "." + v % 100;
        } catch (RuntimeException e) {
            return "not usable — " + e.getMessage();
        }
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (line.startsWith("model name"))
                    return line.substring(line.indexOf(':') + 1).trim();
        } catch (IOException | RuntimeException ignored) {
            // not Linux, or /proc unreadable: fall through
        }
        return System.getProperty("os.arch");
    }
}
