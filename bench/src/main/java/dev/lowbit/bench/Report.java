package dev.lowbit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IntSummaryStatistics;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.TreeMap;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The figures of one benchmark run as a Markdown table (median, min-max, GB/s, ratio to the dense
 * baseline and to the best peer at the same shape and M), JSON, and PNG plots of GB/s against M
 * per contender, one per shape.
 */
public final class Report {
    private final List<Result> results;

    public Report(List<Result> results) {
        this.results = results.stream()
                .sorted(Comparator.comparing(Result::suite)
                        .thenComparing(r -> r.shape().isEmpty() ? 0 : Shapes.n(r.shape()) * (long) Shapes.k(r.shape()))
                        .thenComparing(Result::shape)
                        .thenComparingInt(Result::m)
                        .thenComparingDouble(Result::medianMs))
                .toList();
    }

    /** Dense time over this one's at the same shape and M (> 1: faster than dense), if there is a dense result. */
    public OptionalDouble vsDense(Result r) {
        return results.stream()
                .filter(o -> o.isDense() && same(o, r))
                .mapToDouble(o -> o.medianMs() / r.medianMs())
                .findFirst();
    }

    /** The fastest peer's time over this one's at the same shape and M, if a peer ran there. */
    public OptionalDouble vsBestPeer(Result r) {
        return results.stream().filter(o -> o.isPeer() && same(o, r)).mapToDouble(Result::medianMs).min().stream()
                .map(best -> best / r.medianMs())
                .findFirst();
    }

    /**
     * How many times the read floor this one's time is: the floor's GB/s at the same shape over this
     * one's, so each contender is held to reading its own bytes at the floor's rate (1.00x: as fast
     * as bytes can be read at all).
     */
    public OptionalDouble timesFloor(Result r) {
        if (r.bytes() == 0) return OptionalDouble.empty();
        return floor(r.suite(), r.shape())
                .map(f -> OptionalDouble.of(f.gbps() / r.gbps()))
                .orElse(OptionalDouble.empty());
    }

    private Optional<Result> floor(String suite, String shape) {
        return results.stream()
                .filter(o -> o.isFloor() && o.suite().equals(suite) && o.shape().equals(shape))
                .findFirst();
    }

    private record Plot(String suite, String shape) {}

    private static boolean same(Result a, Result b) {
        return a.suite().equals(b.suite()) && a.shape().equals(b.shape()) && a.m() == b.m();
    }

    public String markdown(String title, String command) {
        StringBuilder sb = new StringBuilder("# ")
                .append(title)
                .append("\n\n`")
                .append(command)
                .append("`\n\n");
        sb.append(
                "Times are per call: the median, minimum and maximum over the measured iterations of each one's mean; GB/s counts the bytes one call reads "
                        + "(weights for the matmuls, the fp32 input for the quantizers); ratios > 1 mean faster than the dense baseline "
                        + "(OpenBLAS fp32 on the CPU, cuBLAS fp16 on the GPU) / than the fastest peer (ggml, Jlama) at the same shape and M. readFloor reads the W4 g128 weights' bytes "
                        + "and computes nothing; x floor is how many times longer a contender takes than reading its own bytes at that rate.\n\n");
        sb.append(
                "| contender | shape (N x K) | M | bits | group | median ms | min - max ms | GB/s | vs dense | vs best peer | x floor |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Result r : results)
            sb.append(String.format(
                    Locale.ROOT,
                    "| %s | %s | %s | %s | %s | %s | %s - %s | %s | %s | %s | %s |%n",
                    r.name(),
                    r.shape().isEmpty() ? "-" : r.shape(),
                    r.m() == 0 ? "-" : r.m(),
                    r.bits() == 0 ? "-" : r.bits(),
                    r.group() == 0 ? "-" : r.group(),
                    num(r.medianMs()),
                    num(r.minMs()),
                    num(r.maxMs()),
                    Double.isNaN(r.gbps()) ? "-" : String.format(Locale.ROOT, "%.2f", r.gbps()),
                    ratio(vsDense(r)),
                    ratio(vsBestPeer(r)),
                    ratio(timesFloor(r))));
        return sb.toString();
    }

    /** {"results":[{"name","shape","m","bits","group","median_ms","gbps"}]}; gbps is null where no bytes are counted. */
    public String json() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        ArrayNode arr = root.putArray("results");
        for (Result r : results) {
            ObjectNode o = arr.addObject()
                    .put("name", r.name())
                    .put("shape", r.shape())
                    .put("m", r.m())
                    .put("bits", r.bits())
                    .put("group", r.group())
                    .put("median_ms", r.medianMs());
            if (Double.isNaN(r.gbps())) o.putNull("gbps");
            else o.put("gbps", r.gbps());
        }
        try {
            return om.writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * One PNG per matmul suite (CPU, GPU) and shape with at least two values of M: GB/s against M, a
     * line per contender, and the read floor as a flat line where it ran. Returns the files.
     */
    public List<Path> plots(Path dir) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Map<Plot, Map<String, TreeMap<Integer, Double>>> byPlot = new LinkedHashMap<>();
        for (Result r : results)
            if (r.suite().startsWith("matmul") && !r.isFloor())
                byPlot.computeIfAbsent(new Plot(r.suite(), r.shape()), s -> new LinkedHashMap<>())
                        .computeIfAbsent(r.name(), s -> new TreeMap<>())
                        .put(r.m(), r.gbps());
        List<Path> files = new ArrayList<>();
        for (var e : byPlot.entrySet()) {
            if (e.getValue().values().stream().allMatch(series -> series.size() < 2)) continue;
            Plot key = e.getKey();
            boolean gpu = key.suite().equals("matmul-gpu");
            XYChart chart = new XYChartBuilder()
                    .width(900)
                    .height(560)
                    .title("y = x W^T, W " + key.shape() + (gpu ? " on the GPU" : "") + ": weight GB/s vs M")
                    .xAxisTitle("M (rows of x)")
                    .yAxisTitle("GB/s of weight bytes")
                    .build();
            chart.getStyler().setXAxisLogarithmic(true);
            for (var s : e.getValue().entrySet())
                chart.addSeries(
                                s.getKey(),
                                s.getValue().keySet().stream()
                                        .map(Integer::doubleValue)
                                        .toList(),
                                new ArrayList<>(s.getValue().values()))
                        .setMarker(SeriesMarkers.CIRCLE);
            IntSummaryStatistics ms = e.getValue().values().stream()
                    .flatMap(series -> series.keySet().stream())
                    .mapToInt(Integer::intValue)
                    .summaryStatistics();
            floor(key.suite(), key.shape())
                    .ifPresent(f -> chart.addSeries(
                                    "read floor",
                                    List.of((double) ms.getMin(), (double) ms.getMax()),
                                    List.of(f.gbps(), f.gbps()))
                            .setMarker(SeriesMarkers.NONE)
                            .setLineStyle(SeriesLines.DASH_DASH));
            Path file = dir.resolve("gbps-" + (gpu ? "gpu-" : "") + key.shape() + ".png");
            Files.createDirectories(dir);
            BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
            files.add(file);
        }
        return files;
    }

    private static String num(double ms) {
        return ms >= 100
                ? String.format(Locale.ROOT, "%.1f", ms)
                : ms >= 0.1 ? String.format(Locale.ROOT, "%.3f", ms) : String.format(Locale.ROOT, "%.2e", ms);
    }

    private static String ratio(OptionalDouble r) {
        return r.isPresent() ? String.format(Locale.ROOT, "%.2fx", r.getAsDouble()) : "-";
    }
}
