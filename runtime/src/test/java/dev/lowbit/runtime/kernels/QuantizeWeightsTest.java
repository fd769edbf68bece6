package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import dev.lowbit.runtime.ref.QuantRef;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Native group quantization against the plain-Java reference: params and codes bit-exact. */
class QuantizeWeightsTest {
    record Shape(int n, int k, int group) {}

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        Shape[] shapes = {
            new Shape(7, 256, 32),
            new Shape(5, 512, 64),
            new Shape(3, 384, 128),
            new Shape(4, 512, 256),
            new Shape(6, 37, QuantSpec.PER_CHANNEL),
            new Shape(2, 100, QuantSpec.PER_CHANNEL)
        };
        for (SimdLevel level : TestData.simdLevels())
            for (int bits : new int[] {2, 3, 4, 6, 8})
                for (Shape s : shapes)
                    for (boolean symmetric : new boolean[] {false, true})
                        for (DType scales : new DType[] {DType.F32, DType.F16})
                            out.add(Arguments.of(level, bits, s, symmetric, scales));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}-bit {2} sym={3} {4}")
    @MethodSource("cases")
    void minMaxMatchesReference(SimdLevel level, int bits, Shape s, boolean symmetric, DType scaleType) {
        float[] w = TestData.weights(new Random(bits * 31L + s.k()), s.n() * s.k());
        TestData.withSimd(
                level, () -> check(w, s, new QuantSpec(bits, s.group(), symmetric, QuantSpec.Range.MINMAX, scaleType)));
    }

    static Stream<Arguments> adversarial() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : TestData.simdLevels())
            for (int bits : new int[] {2, 3, 4, 6, 8})
                for (String kind : new String[] {"constant", "zeros", "huge", "tiny", "subnormal", "one-sided"})
                    out.add(Arguments.of(level, bits, kind));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}-bit {2}")
    @MethodSource("adversarial")
    void adversarialGroupsMatchReference(SimdLevel level, int bits, String kind) {
        Shape s = new Shape(4, 128, 32);
        Random rnd = new Random(kind.hashCode());
        float[] w = TestData.gaussian(rnd, s.n() * s.k(), 1f);
        for (int i = 0; i < w.length; i++) {
            w[i] = switch (kind) {
                case "constant" -> i < 64 ? 0.75f : -3.5f;
                case "zeros" -> i % 64 < 32 ? 0f : w[i];
                case "huge" -> w[i] * 1e37f;
                case "tiny" -> w[i] * 1e-30f;
                case "subnormal" -> w[i] * 1e-40f;
                default -> Math.abs(w[i]) + 1f;
            };
        }
        boolean fp16Ok = !kind.equals("huge");
        for (DType scaleType : fp16Ok ? new DType[] {DType.F32, DType.F16} : new DType[] {DType.F32})
            for (boolean symmetric : new boolean[] {false, true})
                TestData.withSimd(
                        level,
                        () -> check(
                                w, s, new QuantSpec(bits, s.group(), symmetric, QuantSpec.Range.MINMAX, scaleType)));
    }

    static Stream<Arguments> mseCases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : TestData.simdLevels())
            for (int bits : new int[] {2, 3, 4, 6, 8})
                for (boolean symmetric : new boolean[] {false, true}) out.add(Arguments.of(level, bits, symmetric));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}-bit sym={2}")
    @MethodSource("mseCases")
    void mseSearchMatchesReferenceAndNeverLosesToMinMax(SimdLevel level, int bits, boolean symmetric) {
        Shape s = new Shape(6, 256, 64);
        float[] w = TestData.weights(new Random(7 + bits), s.n() * s.k());
        TestData.withSimd(level, () -> {
            check(w, s, new QuantSpec(bits, s.group(), symmetric, QuantSpec.Range.MSE, DType.F32));
            QuantRef.Quantized mse = QuantRef.quantize(w, s.n(), s.k(), bits, s.group(), symmetric, true, false);
            QuantRef.Quantized mm = QuantRef.quantize(w, s.n(), s.k(), bits, s.group(), symmetric, false, false);
            assertTrue(sse(w, mse) <= sse(w, mm), "MSE ranges must not reconstruct worse than min-max");
        });
    }

    private static double sse(float[] w, QuantRef.Quantized q) {
        int k = q.codes()[0].length;
        double e = 0;
        for (int r = 0; r < q.codes().length; r++)
            for (int j = 0; j < k; j++) {
                double d = q.dequant(r, j) - w[r * k + j];
                e += d * d;
            }
        return e;
    }

    /** Params, packed words and dequantized values equal the reference; min-max round trip within half a step. */
    static void check(float[] w, Shape s, QuantSpec spec) {
        int g = spec.groupSizeFor(s.k());
        boolean fp16 = spec.scaleType() == DType.F16;
        QuantRef.Quantized ref = QuantRef.quantize(
                w, s.n(), s.k(), spec.bits(), g, spec.symmetric(), spec.range() == QuantSpec.Range.MSE, fp16);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = Kernels.quantize(arena, Tensor.of(arena, w, s.n(), s.k()), spec);
            float[] deq = Kernels.dequantize(arena, q).toFloatArray();
            int words = (int) QuantizedTensor.wordsPerRow(s.k(), spec.bits());
            for (int r = 0; r < s.n(); r++) {
                for (int gi = 0; gi < s.k() / g; gi++) {
                    assertEquals(ref.scales()[r][gi], q.scales().getFloat(r, gi), "scale row " + r + " group " + gi);
                    assertEquals(ref.zeros()[r][gi], q.zeros().getFloat(r, gi), "zero row " + r + " group " + gi);
                }
                int[] packed = new int[words];
                for (int i = 0; i < words; i++)
                    packed[i] = q.codes().segment().getAtIndex(ValueLayout.JAVA_INT, (long) r * words + i);
                assertArrayEquals(QuantRef.pack(ref.codes()[r], spec.bits()), packed, "packed codes of row " + r);
                for (int j = 0; j < s.k(); j++) {
                    float expected = ref.dequant(r, j);
                    assertEquals(expected, deq[r * s.k() + j], "dequantized [" + r + ", " + j + "]");
                    if (spec.range() == QuantSpec.Range.MINMAX) {
                        float step = ref.scales()[r][j / g];
                        // fp16 rounding of the scale can stretch the clamp by up to maxq * step * 2^-11
                        double bound =
                                0.5 * step * (1 + 1e-6) + (fp16 ? QuantRef.maxq(spec.bits()) * step * 0x1p-11 : 0);
                        assertTrue(
                                Math.abs(expected - w[r * s.k() + j]) <= bound + Float.MIN_VALUE,
                                "round trip error at [" + r + ", " + j + "]: " + expected + " vs " + w[r * s.k() + j]
                                        + ", step " + step);
                    }
                }
            }
        }
    }
}
