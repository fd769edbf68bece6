package dev.lowbit.fuzz;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * The native boundary: random (often inconsistent) shapes, bit widths and group sizes through the
 * Kernels facade. Java validates before every downcall, so the JVM must not crash and nothing but
 * a LowbitException may come back.
 */
class KernelShapeFuzzTest {
    @AfterContainer
    static void report() {
        Outcomes.print("kernels");
    }

    @Provide
    Arbitrary<Integer> dim() {
        return Arbitraries.oneOf(
                Arbitraries.of(-1, 0, 1, 2, 31, 32, 33, 64, 96, 128, 256),
                Arbitraries.integers().between(1, 300));
    }

    @Provide
    Arbitrary<Integer> bits() {
        return Arbitraries.of(-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16);
    }

    @Provide
    Arbitrary<Integer> group() {
        return Arbitraries.of(-2, -1, 0, 1, 16, 32, 64, 100, 128, 256, 512);
    }

    @Property(tries = 10_000, seed = "2107")
    void randomShapesOnlyEverGiveLowbitExceptions(
            @ForAll("dim") int n,
            @ForAll("dim") int k,
            @ForAll("dim") int m,
            @ForAll("dim") int k2,
            @ForAll("bits") int bits,
            @ForAll("bits") int abits,
            @ForAll("group") int group,
            @ForAll @IntRange(min = 0, max = 6) int op) {
        Outcomes.check("kernels", () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor w = Tensor.allocate(arena, DType.F32, n, k);
                Tensor x = Tensor.allocate(arena, DType.F32, m, k2);
                switch (op) {
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
