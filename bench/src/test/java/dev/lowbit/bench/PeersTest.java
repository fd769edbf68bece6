package dev.lowbit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.bench.peers.Ggml;
import dev.lowbit.bench.peers.GgmlMatMul;
import dev.lowbit.bench.peers.JlamaMatMul;
import dev.lowbit.runtime.kernels.cpu.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The peers compute x . W^T: their outputs against a plain-Java product, within each format's quantization error. */
class PeersTest {
    static final int N = 48, K = 512, M = 3;

    static float[] random(Random rnd, int count, float range) {
        float[] a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (rnd.nextFloat() - 0.5f) * range;
        return a;
    }

    /** Relative RMS error of out [M, N] against x . w^T computed here in double. */
    static double relativeError(float[] w, float[] x, MemorySegment out) {
        double err = 0, ref = 0;
        for (int i = 0; i < M; i++)
            for (int o = 0; o < N; o++) {
                double d = 0;
                for (int j = 0; j < K; j++) d += (double) x[i * K + j] * w[o * K + j];
                double e = out.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * N + o) - d;
                err += e * e;
                ref += d * d;
            }
        return Math.sqrt(err / ref);
    }

    @Test
    void ggmlMulMatMatchesTheProductForEachType() {
        assumeTrue(Ggml.available(), "ggml is not available: " + Ggml.unavailableReason());
        Random rnd = new Random(1);
        float[] w = random(rnd, N * K, 0.04f), x = random(rnd, M * K, 2f);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ws = arena.allocateFrom(ValueLayout.JAVA_FLOAT, w);
            for (Ggml.Type type : new Ggml.Type[] {Ggml.Type.Q4_0, Ggml.Type.Q4_K, Ggml.Type.Q8_0})
                try (GgmlMatMul mm = new GgmlMatMul(type, ws, N, K, M, 2)) {
                    MemorySegment.copy(x, 0, mm.input(), ValueLayout.JAVA_FLOAT, 0, x.length);
                    mm.compute();
                    double rel = relativeError(w, x, mm.output());
                    assertTrue(rel < (type == Ggml.Type.Q8_0 ? 0.01 : 0.12), type + ": relative error " + rel);
                    assertTrue(rel > 1e-5, type + " is quantized, so not exact: " + rel);
                    // the report's GB/s counts ggml's own tensor size
                    Result described = Contenders.describe(
                            "ggml", Map.of("shape", N + "x" + K, "m", "" + M, "ggmlType", type.name()), 1, 1, 1);
                    assertEquals(mm.weightBytes(), described.bytes(), type + " size");
                }
        }
    }

    /** llama.cpp's repacked Q4_0 runs its own GEMV/GEMM on interleaved rows: the same codes, so the plain product's. */
    @Test
    void ggmlRepackedQ4_0MatchesPlainQ4_0() {
        assumeTrue(Ggml.available(), "ggml is not available: " + Ggml.unavailableReason());
        Random rnd = new Random(3);
        float[] w = random(rnd, N * K, 0.04f);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ws = arena.allocateFrom(ValueLayout.JAVA_FLOAT, w);
            for (int m : new int[] {1, 4, M}) {
                float[] x = random(rnd, m * K, 2f);
                try (GgmlMatMul plain = new GgmlMatMul(Ggml.Type.Q4_0, ws, N, K, m, 2);
                        GgmlMatMul repacked = new GgmlMatMul(Ggml.Type.Q4_0x8, ws, N, K, m, 2)) {
                    assertEquals(plain.weightBytes(), repacked.weightBytes());
                    for (GgmlMatMul mm : new GgmlMatMul[] {plain, repacked}) {
                        MemorySegment.copy(x, 0, mm.input(), ValueLayout.JAVA_FLOAT, 0, x.length);
                        mm.compute();
                    }
                    for (int i = 0; i < m * N; i++) {
                        float a = plain.output().getAtIndex(ValueLayout.JAVA_FLOAT, i),
                                b = repacked.output().getAtIndex(ValueLayout.JAVA_FLOAT, i);
                        // same integer dot products; only the fp32 order of the block sums may differ
                        assertEquals(a, b, 1e-4f * Math.max(1f, Math.abs(a)), "m " + m + ", element " + i);
                    }
                }
            }
        }
    }

    @Test
    void ggmlRunsTheBestVariantForThisCpu() {
        assumeTrue(Ggml.available(), "ggml is not available: " + Ggml.unavailableReason());
        String variant = Ggml.get().variant();
        switch (Native.simdLevel()) {
            case SCALAR -> assertEquals("x64", variant);
            case AVX2 -> assertEquals("haswell", variant);
            // ggml's own scores rank the AVX-512 variants above haswell wherever the CPU has AVX-512
            case AVX512 -> assertTrue(!variant.equals("haswell") && !variant.equals("x64"), variant);
        }
    }

    @Test
    void jlamaQ4MatchesTheProduct() {
        Random rnd = new Random(2);
        float[] w = random(rnd, N * K, 0.04f), x = random(rnd, M * K, 2f);
        try (Arena arena = Arena.ofShared()) { // Jlama converts and multiplies on its worker threads
            JlamaMatMul mm = new JlamaMatMul(arena.allocateFrom(ValueLayout.JAVA_FLOAT, w), N, K, M);
            MemorySegment.copy(x, 0, mm.input(), ValueLayout.JAVA_FLOAT, 0, x.length);
            mm.compute();
            double rel = relativeError(w, x, mm.output());
            assertTrue(rel < 0.12 && rel > 1e-5, mm.operations() + ": relative error " + rel);
        }
    }
}
