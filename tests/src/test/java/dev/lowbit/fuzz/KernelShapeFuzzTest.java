package dev.lowbit.fuzz;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The native boundary: random (often inconsistent) shapes, bit widths and group sizes through the
 * Kernels facade. Java validates before every downcall, so the JVM must not crash and nothing but
 * a LowbitException may come back.
 */
class KernelShapeFuzzTest {
    private static final int[] DIMS = {-1, 0, 1, 2, 31, 32, 33, 64, 96, 128, 256};
    private static final int[] BITS = {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16};
    private static final int[] GROUPS = {-2, -1, 0, 1, 16, 32, 64, 100, 128, 256, 512};

    @AfterAll
    static void report() {
        Outcomes.print("kernels");
    }

    /** Weights n x k, activations m x k2 and op 0-6 (the switch below). */
    record Shape(int n, int k, int m, int k2, int bits, int abits, int group, int op) {}

    /** A listed (edge) dimension or any of 1..300, half the time each. */
    private static int dim(SplittableRandom r) {
        return r.nextBoolean() ? pick(r, DIMS) : r.nextInt(1, 301);
    }

    private static int pick(SplittableRandom r, int[] values) {
        return values[r.nextInt(values.length)];
    }

    private static Shape shape(SplittableRandom r) {
        return new Shape(dim(r), dim(r), dim(r), dim(r), pick(r, BITS), pick(r, BITS), pick(r, GROUPS), r.nextInt(7));
    }

    @Test
    void randomShapesOnlyEverGiveLowbitExceptions() {
        SeededCases.run("kernels", 2107, 10_000, KernelShapeFuzzTest::shape, KernelShapeFuzzTest::check);
    }

    private static void check(Shape s) {
        int n = s.n(), k = s.k(), m = s.m(), k2 = s.k2(), bits = s.bits(), abits = s.abits(), group = s.group();
        Outcomes.check("kernels", () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor w = Tensor.allocate(arena, DType.F32, n, k);
                Tensor x = Tensor.allocate(arena, DType.F32, m, k2);
                switch (s.op()) {
                    case 0 -> Kernels.dequantize(arena, Kernels.quantize(arena, w, QuantSpec.of(bits, group)));
                    case 1 ->
                        Kernels.dequantGemm(arena, x, Kernels.quantize(arena, w, QuantSpec.of(bits, group)), null);
                    case 2 -> Kernels.quantizeActivations(arena, x, abits);
                    case 3 -> {
                        QuantizedTensor q = Kernels.quantize(arena, w, QuantSpec.of(bits, group));
                        QuantizedActivations a = Kernels.quantizeActivations(arena, x, abits);
                        Kernels.intGemm(arena, a, q, Kernels.weightCodeSums(arena, q), null);
                    }
                    case 4 -> Kernels.matmul(arena, x, w);
                    case 5 -> Kernels.fakeQuantGroups(x, group, bits, Tensor.allocate(arena, DType.F32, m, k));
                    default ->
                        Kernels.dequantGemm(
                                arena,
                                x,
                                Kernels.quantize(arena, w, QuantSpec.of(bits, group)),
                                Tensor.allocate(arena, DType.F32, k2));
                }
            }
        });
    }
}
