package dev.lowbit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bytes, GB/s and ratios of the report from known timings. */
class ReportTest {
    static Result r(String method, Map<String, String> params, double ms) {
        return Contenders.describe(method, params, ms, ms * 0.9, ms * 1.2);
    }

    @Test
    void ratiosAndBandwidthFollowFromTheTimes(@TempDir Path dir) throws Exception {
        Map<String, String> p1 = Map.of("shape", "4096x4096", "m", "1", "bits", "4", "group", "128");
        Map<String, String> p8 = Map.of("shape", "4096x4096", "m", "8", "bits", "4", "group", "128");
        Result lowbit = r("lowbitDequantGemm", p1, 2.0), dense = r("openblasDense", p1, 4.0);
        Result q40 = r("ggml", Map.of("shape", "4096x4096", "m", "1", "ggmlType", "Q4_0"), 3.0);
        Result jlama = r("jlamaQ4", p1, 5.0),
                lowbit8 = r("lowbitDequantGemm", p8, 10.0),
                dense8 = r("openblasDense", p8, 30.0);
        Result floor = r("readFloor", Map.of("shape", "4096x4096"), 0.5);
        Report report = new Report(List.of(jlama, dense, q40, lowbit, lowbit8, dense8, floor));

        assertEquals(
                4096L * 4096 / 2 + 2L * 4096 * 32 * 4,
                lowbit.bytes(),
                "4-bit codes + fp32 scales and zeros per group of 128");
        assertEquals(4096L * 4096 / 32 * 18, q40.bytes());
        assertEquals(lowbit.bytes() / 2e6, lowbit.gbps(), 1e-9);
        assertEquals(2.0, report.vsDense(lowbit).getAsDouble(), 1e-12);
        assertEquals(1.5, report.vsBestPeer(lowbit).getAsDouble(), 1e-12, "Q4_0 at 3 ms is the best peer");
        assertEquals(3.0, report.vsDense(lowbit8).getAsDouble(), 1e-12, "ratios compare the same M only");
        assertTrue(report.vsBestPeer(lowbit8).isEmpty(), "no peer ran at M = 8");
        assertEquals(lowbit.bytes(), floor.bytes(), "the floor reads the W4 g128 weights' bytes");
        assertEquals(4.0, report.timesFloor(lowbit).getAsDouble(), 1e-12, "the same bytes in 2 ms against 0.5 ms");
        assertEquals(20.0, report.timesFloor(lowbit8).getAsDouble(), 1e-12, "the floor holds at every M");
        assertEquals(
                floor.gbps() / dense.gbps(),
                report.timesFloor(dense).getAsDouble(),
                1e-12,
                "dense is held to its own fp32 bytes");
        assertEquals(1.0, report.timesFloor(floor).getAsDouble(), 1e-12);

        String md = report.markdown("t", "cmd");
        assertTrue(
                md.contains(
                        "| lowbitDequantGemm | 4096x4096 | 1 | 4 | 128 | 2.000 | 1.800 - 2.400 | 4.72 | 2.00x | 1.50x | 4.00x |"),
                md);
        assertTrue(md.contains("| readFloor | 4096x4096 | - | 4 | 128 | 0.500 |"), md);
        assertTrue(
                md.indexOf("lowbitDequantGemm | 4096x4096 | 1") < md.indexOf("ggmlQ4_0"),
                "fastest first within a shape and M");

        JsonNode j = new ObjectMapper().readTree(report.json()).get("results");
        assertEquals(7, j.size());
        for (JsonNode o : j)
            for (String key : new String[] {"name", "shape", "m", "bits", "group", "median_ms", "gbps"})
                assertTrue(o.has(key), key);

        List<Path> plots = report.plots(dir);
        assertEquals(
                List.of(dir.resolve("gbps-4096x4096.png")), plots, "one plot for the one shape with two values of M");
        byte[] png = Files.readAllBytes(plots.get(0));
        assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
    }

    @Test
    void gpuContendersAreComparedWithCublasFp16Only(@TempDir Path dir) throws Exception {
        Map<String, String> p1 = Map.of("shape", "8192x8192", "m", "1"), p16 = Map.of("shape", "8192x8192", "m", "16");
        Result lowbit = r("cudaDequantGemm", p1, 0.025),
                fp16 = r("cublasFp16", p1, 0.1),
                bf16 = r("cublasBf16", p1, 0.11);
        Result lowbit16 = r("cudaDequantGemm", p16, 0.03), fp16m16 = r("cublasFp16", p16, 0.105);
        Result cpuDense = r("openblasDense", p1, 20.0);
        Report report = new Report(List.of(lowbit, fp16, bf16, lowbit16, fp16m16, cpuDense));

        assertEquals(8192L * 8192 * 2, fp16.bytes(), "fp16 weights");
        assertEquals(8192L * 8192 / 2 + 2L * 8192 * 64 * 4, lowbit.bytes(), "W4 g128 with fp32 scales and zeros");
        assertEquals(4.0, report.vsDense(lowbit).getAsDouble(), 1e-12, "against cuBLAS fp16, not the CPU's OpenBLAS");
        assertEquals(3.5, report.vsDense(lowbit16).getAsDouble(), 1e-12);
        assertEquals(1.0, report.vsDense(cpuDense).getAsDouble(), 1e-12, "the CPU baseline stays its own");
        assertTrue(report.timesFloor(lowbit).isEmpty(), "no floor ran on the GPU");
        assertEquals(List.of(dir.resolve("gbps-gpu-8192x8192.png")), report.plots(dir));
    }

    @Test
    void aLaterRunGetsItsOwnFolder(@TempDir Path dir) throws Exception {
        assertEquals(dir.resolve("2026-11-23-vm"), BenchCommand.unused(dir, "2026-11-23-vm"));
        Files.createDirectories(dir.resolve("2026-11-23-vm"));
        assertEquals(dir.resolve("2026-11-23-vm-2"), BenchCommand.unused(dir, "2026-11-23-vm"));
        Files.createDirectories(dir.resolve("2026-11-23-vm-2"));
        assertEquals(dir.resolve("2026-11-23-vm-3"), BenchCommand.unused(dir, "2026-11-23-vm"));
    }
}
