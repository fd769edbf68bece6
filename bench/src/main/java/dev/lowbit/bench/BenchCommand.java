package dev.lowbit.bench;

import dev.lowbit.bench.peers.Ggml;
import dev.lowbit.runtime.io.AtomicFiles;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code lowbit bench}: runs the JMH suites and writes a report under bench/results/DATE-HOST/. */
@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description =
                "Run lowbit's JMH benchmarks beside dense BLAS and the peers (ggml, Jlama); write a Markdown table, "
                        + "JSON and GB/s-vs-M plots under bench/results/DATE-HOST/.")
public final class BenchCommand implements Callable<Integer> {
    enum Suite {
        matmul,
        quantize,
        ffm,
        all
    }

    static final List<String> QUICK_SHAPES = List.of("4096x4096", "8192x16384");
    static final List<String> QUICK_M = List.of("1", "8", "64");

    @Option(names = "--suite", description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    Suite suite = Suite.matmul;

    @Option(
            names = "--quick",
            description = "two shapes, M 1/8/64, short iterations: a few minutes instead of the better part of an hour")
    boolean quick;

    @Option(names = "--shapes", split = ",", description = "override the N x K shapes, e.g. 4096x4096,8192x16384")
    List<String> shapes;

    @Option(names = "--m", split = ",", description = "override the values of M, e.g. 1,16,256")
    List<Integer> ms;

    @Option(
            names = "--out",
            description =
                    "report folder (default: bench/results/DATE-HOST, or DATE-HOST-2, -3, ... when that holds an earlier run)")
    Path out;

    @Option(names = "--json", description = "print the figures as JSON on stdout")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (shapes != null) shapes.forEach(Shapes::check);
        if (ms != null) ms.forEach(Shapes::checkM);
        ChainedOptionsBuilder opt = new OptionsBuilder()
                .forks(1)
                .shouldFailOnError(false)
                .verbosity(json ? VerboseMode.SILENT : VerboseMode.NORMAL);
        if (suite == Suite.matmul || suite == Suite.all) opt.include(MatMulBench.class.getName() + "\\.");
        if (suite == Suite.matmul || suite == Suite.all || suite == Suite.ffm) {
            if (Cuda.available())
                opt.include(CudaMatMulBench.class.getName() + (suite == Suite.ffm ? "\\.cudaLaunch$" : "\\."));
            else System.err.println("skipping the GPU benchmarks: " + Cuda.unavailableReason());
        }
        if (suite == Suite.quantize || suite == Suite.all) opt.include(QuantizeBench.class.getName() + "\\.");
        if (suite == Suite.quantize || suite == Suite.all) opt.include(ActivationQuantizeBench.class.getName() + "\\.");
        if (suite == Suite.ffm || suite == Suite.all) opt.include(FfmCallBench.class.getName() + "\\.");
        if (!Ggml.available()) {
            System.err.println("skipping ggml: " + Ggml.unavailableReason());
            opt.exclude(MatMulBench.class.getName() + "\\.ggml$");
        }
        // JMH appends the values of repeated param() calls, so each parameter is set once
        List<String> shapeValues = shapes != null ? shapes : quick ? QUICK_SHAPES : null;
        List<String> mValues = ms != null ? ms.stream().map(String::valueOf).toList() : quick ? QUICK_M : null;
        if (shapeValues != null) opt.param("shape", shapeValues.toArray(String[]::new));
        if (mValues != null) opt.param("m", mValues.toArray(String[]::new));
        if (quick)
            opt.warmupIterations(1)
                    .warmupTime(TimeValue.milliseconds(500))
                    .measurementIterations(3)
                    .measurementTime(TimeValue.milliseconds(500));
        Collection<RunResult> runs = new Runner(opt.build()).run();
        List<Result> results = new ArrayList<>();
        for (RunResult rr : runs) {
            var stats = rr.getPrimaryResult().getStatistics();
            double toMs = msPer(rr.getParams().getTimeUnit());
            String bench = rr.getParams().getBenchmark();
            Map<String, String> params =
                    rr.getParams().getParamsKeys().stream().collect(Collectors.toMap(k -> k, rr.getParams()::getParam));
            results.add(Contenders.describe(
                    bench.substring(bench.lastIndexOf('.') + 1),
                    params,
                    stats.getPercentile(50) * toMs,
                    stats.getMin() * toMs,
                    stats.getMax() * toMs));
        }
        if (results.isEmpty()) {
            System.err.println("no benchmark finished; see the JMH output above");
            return 1;
        }
        Report report = new Report(results);
        Path dir = out != null ? out : unused(home().resolve("bench/results"), LocalDate.now() + "-" + host());
        String command = "./lowbit bench --suite " + suite + (quick ? " --quick" : "")
                + (shapes != null ? " --shapes " + String.join(",", shapes) : "")
                + (ms != null ? " --m " + ms.stream().map(String::valueOf).collect(Collectors.joining(",")) : "");
        String title = "lowbit benchmarks on " + host() + ", " + LocalDate.now() + " ("
                + Runtime.getRuntime().availableProcessors() + " threads, " + Native.simdLevel() + " kernels"
                + (Ggml.available() ? ", ggml's " + Ggml.get().variant() + " CPU library" : "") + ")";
        write(dir.resolve("report.md"), report.markdown(title, command));
        write(dir.resolve("results.json"), report.json());
        List<Path> plots = report.plots(dir);
        if (json) {
            System.out.println(report.json());
        } else {
            System.out.println(report.markdown(title, command));
            System.out.println("wrote " + dir.resolve("report.md") + ", results.json"
                    + (plots.isEmpty() ? "" : " and " + plots.size() + " plot(s)"));
        }
        return 0;
    }

    /** parent/name, or parent/name-2, -3, ... : the first that does not exist yet, so a later run never overwrites an earlier one. */
    static Path unused(Path parent, String name) {
        Path dir = parent.resolve(name);
        for (int i = 2; Files.exists(dir); i++) dir = parent.resolve(name + "-" + i);
        return dir;
    }

    private static double msPer(TimeUnit unit) {
        return unit.toNanos(1) / 1e6;
    }

    private static Path home() {
        return Path.of(System.getProperty("lowbit.home", ".")).toAbsolutePath().normalize();
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "_");
        } catch (IOException e) {
            return "localhost";
        }
    }

    private static void write(Path file, String text) {
        AtomicFiles.write(file, ch -> ch.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8))));
    }
}
