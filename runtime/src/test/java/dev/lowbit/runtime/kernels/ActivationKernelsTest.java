package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import dev.lowbit.runtime.ref.QuantRef;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Per-token activation quantization (bit-exact), fake quantization (bit-exact) and the integer W4A8/W8A8 GEMM (exact sums). */
class ActivationKernelsTest {
    static Stream<Arguments> quantizeCases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : TestData.simdLevels())
            for (int bits : new int[] {4, 8})
                for (int[] mk : new int[][] {{1, 37}, {3, 4099}, {17, 64}, {5, 7}})
                    out.add(Arguments.of(level, bits, mk[0], mk[1]));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} A{1} m={2} k={3}")
    @MethodSource("quantizeCases")
    void activationCodesMatchReference(SimdLevel level, int bits, int m, int k) {
        Random rnd = new Random(m * 7919L + k + bits);
        float[] x = TestData.gaussian(rnd, m * k, 2f);
        for (int j = 0; j < k; j++) x[j] = 0f; // an all-zero token
        if (m > 1) for (int j = 0; j < k; j++) x[k + j] = Math.abs(x[k + j]) * 1e30f; // huge, one-sided
        QuantRef.Quantized ref = QuantRef.quantizeActivations(x, m, k, bits);
        TestData.withSimd(level, () -> {
            try (Arena arena = Arena.ofConfined()) {
                QuantizedActivations a = Kernels.quantizeActivations(arena, Tensor.of(arena, x, m, k), bits);
                for (int i = 0; i < m; i++) {
                    assertEquals(ref.scales()[i][0], a.scales().getFloat(i), "scale of row " + i);
                    assertEquals(ref.zeros()[i][0], a.zeros().getFloat(i), "zero of row " + i);
                    for (int j = 0; j < k; j++)
                        assertEquals(
                                ref.codes()[i][j],
                                Byte.toUnsignedInt(a.codes().segment().get(ValueLayout.JAVA_BYTE, (long) i * k + j)),
                                "code [" + i + ", " + j + "]");
                }
            }
        });
    }

    static Stream<Arguments> intGemmCases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : TestData.simdLevels())
            for (int wbits : new int[] {4, 8})
                for (int abits : new int[] {4, 8})
                    for (int[] shape : new int[][] {
                        {1, 7, 256, 32},
                        {1, 9, 1024, 128},
                        {1, 5, 640, -1},
                        {3, 5, 512, 128},
                        {17, 9, 384, 64},
                        {2, 6, 75, -1},
                        {4, 3, 1024, 256},
                        {1, 2, 16448, -1},
                        {6, 4, 8192, -1},
                        {5, 3, 256, 64},
                        {9, 7, 384, 128}
                    })
                        for (DType scales : new DType[] {DType.F32, DType.F16})
                            out.add(Arguments.of(level, wbits, abits, shape, scales));
        return out.stream();
    }

    /** Against the plain-Java reference, with the weight code sums passed in and with the kernel summing them itself. */
    @ParameterizedTest(name = "{0} W{1}A{2} {3} {4} scales")
    @MethodSource("intGemmCases")
    void intGemmMatchesReference(SimdLevel level, int wbits, int abits, int[] shape, DType scaleType) {
        int m = shape[0], n = shape[1], k = shape[2], group = shape[3];
        Random rnd = new Random(m * 31L + n * 17L + k + wbits * 5L + abits);
        float[] w = TestData.weights(rnd, n * k), x = TestData.gaussian(rnd, m * k, 1f);
        float[] bias = TestData.gaussian(rnd, n, 1f);
        QuantSpec spec = new QuantSpec(wbits, group, false, QuantSpec.Range.MINMAX, scaleType);
        QuantRef.Quantized wr =
                QuantRef.quantize(w, n, k, wbits, spec.groupSizeFor(k), false, false, scaleType == DType.F16);
        QuantRef.Quantized ar = QuantRef.quantizeActivations(x, m, k, abits);
        double[][] ref = QuantRef.intGemm(ar, wr, bias), abs = QuantRef.absIntGemm(ar, wr);
        TestData.withSimd(level, () -> {
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor q = Kernels.quantize(arena, Tensor.of(arena, w, n, k), spec);
                QuantizedActivations a = Kernels.quantizeActivations(arena, Tensor.of(arena, x, m, k), abits);
                for (Tensor sums : new Tensor[] {Kernels.weightCodeSums(arena, q), null}) {
                    float[] y = Kernels.intGemm(arena, a, q, sums, Tensor.of(arena, bias, n))
                            .toFloatArray();
                    for (int i = 0; i < m; i++)
                        for (int r = 0; r < n; r++) {
                            // integer sums are exact; what remains is fp32 accumulation across groups
                            double err = Math.abs(y[i * n + r] - ref[i][r]),
                                    tol = 1e-5 * abs[i][r] + 1e-6 * Math.abs(ref[i][r]) + 1e-6;
                            assertTrue(
                                    err <= tol,
                                    "y[" + i + ", " + r + "] = " + y[i * n + r] + " vs " + ref[i][r] + " (error " + err
                                            + " > " + tol + (sums == null ? ", sums computed by the kernel)" : ")"));
                        }
                }
            }
        });
    }

    /** The AVX-512 VNNI W4A8 kernel sums the same exact int32 lanes as the AVX2 one and shares its fp32 steps: the same bits. */
    @Test
    void intGemmAvx512GivesTheAvx2Bits() {
        assumeTrue(
                Native.maxSimdLevel() == SimdLevel.AVX512,
                "this CPU has no AVX-512 VNNI (best SIMD level " + Native.maxSimdLevel()
                        + "), so the AVX-512 W4A8 kernel cannot run here");
        Random rnd = new Random(5);
        for (int[] shape : new int[][] {
            {1, 70, 4096, 128}, {1, 9, 1024, 256}, {8, 66, 2048, 128}, {7, 5, 1024, 128}, {3, 2, 640, 128}
        })
            for (DType scaleType : new DType[] {DType.F32, DType.F16})
                try (Arena arena = Arena.ofConfined()) {
                    int m = shape[0], n = shape[1], k = shape[2];
                    QuantizedTensor q = Kernels.quantize(
                            arena,
                            Tensor.of(arena, TestData.weights(rnd, n * k), n, k),
                            new QuantSpec(4, shape[3], false, QuantSpec.Range.MINMAX, scaleType));
                    QuantizedActivations a = Kernels.quantizeActivations(
                            arena, Tensor.of(arena, TestData.gaussian(rnd, m * k, 1f), m, k), 8);
                    Tensor sums = Kernels.weightCodeSums(arena, q);
                    float[][] y = new float[2][];
                    TestData.withSimd(
                            SimdLevel.AVX2,
                            () -> y[0] =
                                    Kernels.intGemm(arena, a, q, sums, null).toFloatArray());
                    TestData.withSimd(
                            SimdLevel.AVX512,
                            () -> y[1] =
                                    Kernels.intGemm(arena, a, q, sums, null).toFloatArray());
                    assertArrayEquals(y[0], y[1], Arrays.toString(shape) + " " + scaleType + " scales");
                }
    }

    static Stream<Arguments> largeMCases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : TestData.simdLevels())
            for (int[] shape : new int[][] {
                {16, 7, 256, 64},
                {17, 9, 384, 128},
                {33, 13, 1024, 256},
                {40, 21, 640, 128},
                {255, 6, 512, 64},
                {19, 5, 2048, -1},
                {18, 3, 4160, -1},
                {64, 66, 2048, 128},
                {301, 5, 512, 128} // M blocks of 256 and an odd remainder
            }) for (int abits : new int[] {4, 8}) out.add(Arguments.of(level, abits, shape));
        return out.stream();
    }

    /**
     * At M >= 16 the AVX-512 level runs a blocked W4A8 kernel (many tokens per weight panel); its results are
     * the bits of today's per-token kernel, so every row must equal the same row multiplied alone (M = 1):
     * odd M, rows and columns off the blocks, groups of 64 to 2048, per-channel past 2048 (which takes the
     * per-token kernel), fp32 and fp16 scales, A8 and A4 codes, weight sums passed and computed.
     */
    @ParameterizedTest(name = "{0} W4A{1} {2}")
    @MethodSource("largeMCases")
    void intGemmAtLargeMGivesTheBitsOfOneRowAtATime(SimdLevel level, int abits, int[] shape) {
        int m = shape[0], n = shape[1], k = shape[2];
        Random rnd = new Random(m * 13L + n * 7L + k + abits);
        float[] w = TestData.weights(rnd, n * k), x = TestData.gaussian(rnd, m * k, 1f);
        float[] bias = TestData.gaussian(rnd, n, 1f);
        for (DType scaleType : new DType[] {DType.F32, DType.F16})
            TestData.withSimd(level, () -> {
                try (Arena arena = Arena.ofConfined()) {
                    QuantizedTensor q = Kernels.quantize(
                            arena,
                            Tensor.of(arena, w, n, k),
                            new QuantSpec(4, shape[3], false, QuantSpec.Range.MINMAX, scaleType));
                    Tensor b = Tensor.of(arena, bias, n);
                    QuantizedActivations a = Kernels.quantizeActivations(arena, Tensor.of(arena, x, m, k), abits);
                    for (Tensor sums : new Tensor[] {Kernels.weightCodeSums(arena, q), null}) {
                        float[] all = Kernels.intGemm(arena, a, q, sums, b).toFloatArray();
                        for (int i = 0; i < m; i++) {
                            float[] row = Arrays.copyOfRange(x, i * k, (i + 1) * k);
                            QuantizedActivations ai =
                                    Kernels.quantizeActivations(arena, Tensor.of(arena, row, 1, k), abits);
                            float[] one = Kernels.intGemm(arena, ai, q, sums, b).toFloatArray();
                            assertArrayEquals(
                                    one,
                                    Arrays.copyOfRange(all, i * n, (i + 1) * n),
                                    "row " + i + " of " + Arrays.toString(shape) + " " + scaleType + " scales"
                                            + (sums == null ? ", sums computed by the kernel" : ""));
                        }
                    }
                }
            });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.lowbit.runtime.ref.TestData#simdLevels")
    void weightCodeSumsAreThePerGroupSumsOfTheCodes(SimdLevel level) {
        Random rnd = new Random(11);
        TestData.withSimd(level, () -> {
            try (Arena arena = Arena.ofConfined()) {
                for (int bits : new int[] {2, 3, 4, 6, 8})
                    for (int[] kg : new int[][] {{256, 32}, {640, 128}, {384, 64}, {75, -1}, {4096, -1}}) {
                        int n = 3, k = kg[0];
                        QuantizedTensor q = Kernels.quantize(
                                arena, Tensor.of(arena, TestData.weights(rnd, n * k), n, k), QuantSpec.of(bits, kg[1]));
                        int g = q.groupSize();
                        Tensor sums = Kernels.weightCodeSums(arena, q);
                        assertArrayEquals(new long[] {n, k / g}, sums.shape());
                        for (int r = 0; r < n; r++)
                            for (int grp = 0; grp < k / g; grp++) {
                                int expected = 0;
                                for (int j = grp * g; j < (grp + 1) * g; j++) expected += q.code(r, j);
                                assertEquals(
                                        expected,
                                        sums.segment().getAtIndex(ValueLayout.JAVA_INT, (long) r * (k / g) + grp),
                                        bits + "-bit k " + k + " row " + r + " group " + grp);
                            }
                    }
            }
        });
    }

    static Stream<Arguments> fakeQuantCases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : TestData.simdLevels())
            for (int bits = 2; bits <= 8; bits++)
                for (int[] mkg : new int[][] {{3, 37, 37}, {4, 256, 32}, {2, 4099, 4099}, {16, 64, 8}})
                    out.add(Arguments.of(level, bits, mkg));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}-bit {2}")
    @MethodSource("fakeQuantCases")
    void fakeQuantGroupsIsQuantizeThenDequantize(SimdLevel level, int bits, int[] mkg) {
        int m = mkg[0], k = mkg[1], g = mkg[2];
        Random rnd = new Random(m * 131L + k * 7L + g + bits);
        float[] x = TestData.gaussian(rnd, m * k, 3f);
        for (int j = 0; j < g; j++) x[j] = Math.abs(x[j]); // a one-sided group
        QuantRef.Quantized ref = QuantRef.quantize(x, m, k, bits, g, false, false, false);
        TestData.withSimd(level, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor t = Tensor.of(arena, x, m, k);
                Kernels.fakeQuantGroups(t, g, bits, t); // in place
                float[] y = t.toFloatArray();
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < k; j++) {
                        float s = ref.scales()[i][j / g], z = ref.zeros()[i][j / g];
                        assertEquals(((float) ref.codes()[i][j] - z) * s, y[i * k + j], "[" + i + ", " + j + "]");
                    }
            }
        });
    }
}
