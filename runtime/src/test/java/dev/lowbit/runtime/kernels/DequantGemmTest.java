package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import dev.lowbit.runtime.ref.QuantRef;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Fused dequant-GEMM (GEMV at m = 1, tiled below m = 16, blocked with packed panels from 16 on) against the double-precision reference. */
class DequantGemmTest {
    record Shape(int n, int k, int group) {}

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        Shape[] shapes = {
            new Shape(13, 256, 32),
            new Shape(9, 512, 64),
            new Shape(6, 640, 128),
            new Shape(5, 1024, 256),
            new Shape(11, 37, QuantSpec.PER_CHANNEL),
            new Shape(4, 1000, QuantSpec.PER_CHANNEL)
        };
        for (SimdLevel level : TestData.simdLevels())
            for (int bits : new int[] {2, 3, 4, 6, 8})
                for (Shape s : shapes)
                    for (int m : new int[] {1, 3, 17, 64, 100, 300}) out.add(Arguments.of(level, bits, s, m));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}-bit {2} m={3}")
    @MethodSource("cases")
    void matchesReference(SimdLevel level, int bits, Shape s, int m) {
        Random rnd = new Random(bits * 1000L + s.k() * 10L + m);
        float[] w = TestData.weights(rnd, s.n() * s.k());
        float[] x = TestData.gaussian(rnd, m * s.k(), 1f);
        float[] bias = m % 2 == 1 ? TestData.gaussian(rnd, s.n(), 0.5f) : null;
        DType scaleType = m == 17 ? DType.F16 : DType.F32;
        QuantSpec spec = new QuantSpec(bits, s.group(), false, QuantSpec.Range.MINMAX, scaleType);
        QuantRef.Quantized ref = QuantRef.quantize(
                w, s.n(), s.k(), bits, spec.groupSizeFor(s.k()), false, false, scaleType == DType.F16);
        TestData.withSimd(level, () -> {
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor q = Kernels.quantize(arena, Tensor.of(arena, w, s.n(), s.k()), spec);
                Tensor b = bias == null ? null : Tensor.of(arena, bias, s.n());
                for (DType xType : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                    Tensor xt = Tensor.of(arena, x, m, s.k()).convertedTo(arena, xType);
                    float[] xr = xt.toFloatArray(); // the values the kernel sees after conversion
                    float[] y = Kernels.dequantGemm(arena, xt, q, b).toFloatArray();
                    assertClose(QuantRef.gemm(xr, m, ref, bias), QuantRef.absGemm(xr, m, ref), y, s.n(), xType + " x");
                }
            }
        });
    }

    /** Float accumulation error is bounded by a small multiple of eps * sum |x w|. */
    static void assertClose(double[][] ref, double[][] abs, float[] y, int n, String what) {
        for (int i = 0; i < ref.length; i++)
            for (int r = 0; r < n; r++) {
                double tol = 2e-5 * abs[i][r] + 1e-6 * Math.abs(ref[i][r]) + 1e-30;
                double err = Math.abs(y[i * n + r] - ref[i][r]);
                assertTrue(
                        err <= tol,
                        what + ": y[" + i + ", " + r + "] = " + y[i * n + r] + ", reference " + ref[i][r] + " (error "
                                + err + " > " + tol + ")");
            }
    }
}
