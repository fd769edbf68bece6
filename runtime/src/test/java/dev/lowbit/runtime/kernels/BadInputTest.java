package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad input never reaches native code unchecked: each case is a LowbitException with a useful message. */
class BadInputTest {
    private static void fails(String expectedFragment, Executable call) {
        LowbitException e = assertThrows(LowbitException.class, call);
        assertTrue(
                e.getMessage().contains(expectedFragment),
                "message \"" + e.getMessage() + "\" lacks \"" + expectedFragment + "\"");
    }

    @Test
    void unsupportedBitsAndGroupSizes() {
        fails("5-bit weights are not supported: use 2, 3, 4, 6 or 8", () -> QuantSpec.of(5, 128));
        fails("group size 48 is not supported", () -> QuantSpec.of(4, 48));
        fails(
                "group size 128 does not divide the 200 input features",
                () -> QuantSpec.of(4, 128).groupSizeFor(200));
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.allocate(arena, DType.F32, 4, 200);
            fails("does not divide", () -> Kernels.quantize(arena, w, QuantSpec.of(4, 128)));
            fails("6-bit activations are not supported", () -> Kernels.quantizeActivations(arena, w, 6));
            QuantizedTensor q8 = QuantizedTensor.allocate(arena, 4, 256, QuantSpec.of(8, 128));
            fails(
                    "does not match weights",
                    () -> Kernels.quantizeInto(Tensor.allocate(arena, DType.F32, 4, 256), QuantSpec.of(4, 128), q8));
            QuantizedTensor q3 = Kernels.quantize(arena, Tensor.allocate(arena, DType.F32, 4, 64), QuantSpec.of(3, 32));
            QuantizedActivations a = Kernels.quantizeActivations(arena, Tensor.allocate(arena, DType.F32, 2, 64), 8);
            fails("takes 4- or 8-bit weights, got 3-bit", () -> Kernels.intGemm(arena, a, q3, null, null));
        }
    }

    @Test
    void readSumTakesWholeWordsOfNativeMemory() {
        try (Arena arena = Arena.ofConfined()) {
            fails("whole 64-bit words, got 12 bytes", () -> Native.readSum(arena.allocate(12)));
            fails("got heap memory of 16 bytes", () -> Native.readSum(MemorySegment.ofArray(new long[2])));
            assertEquals(0L, Native.readSum(arena.allocate(0)), "nothing to read sums to 0");
        }
    }

    @Test
    void shapeMismatches() {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = Kernels.quantize(arena, Tensor.allocate(arena, DType.F32, 8, 64), QuantSpec.of(4, 32));
            fails(
                    "expected [m, 64]",
                    () -> Kernels.dequantGemm(arena, Tensor.allocate(arena, DType.F32, 2, 63), q, null));
            fails(
                    "bias has shape [7], expected [8]",
                    () -> Kernels.dequantGemm(
                            arena, Tensor.allocate(arena, DType.F32, 2, 64), q, Tensor.allocate(arena, DType.F32, 7)));
            fails(
                    "y has shape [2, 9], expected [2, 8]",
                    () -> Kernels.dequantGemm(
                            Tensor.allocate(arena, DType.F32, 2, 64),
                            q,
                            null,
                            Tensor.allocate(arena, DType.F32, 2, 9)));
            fails(
                    "x must be [F32, F16, BF16], got I32",
                    () -> Kernels.dequantGemm(arena, Tensor.allocate(arena, DType.I32, 1, 64), q, null));
            fails(
                    "must be contiguous",
                    () -> Kernels.quantize(
                            arena, Tensor.allocate(arena, DType.F32, 64, 64).transpose(), QuantSpec.of(4, 32)));
            fails(
                    "codes have 5 words per row",
                    () -> QuantizedTensor.of(
                            arena,
                            Tensor.allocate(arena, DType.I32, 8, 5),
                            Tensor.allocate(arena, DType.F32, 8, 2),
                            Tensor.allocate(arena, DType.F32, 8, 2),
                            64,
                            4,
                            32));
            fails(
                    "scales has shape [8, 3], expected [8, 2]",
                    () -> Kernels.fakeQuantForward(
                            arena,
                            Tensor.allocate(arena, DType.F32, 8, 64),
                            new FakeQuantParams(
                                    Tensor.allocate(arena, DType.F32, 8, 3),
                                    Tensor.allocate(arena, DType.F32, 8, 2),
                                    null,
                                    4,
                                    32)));
        }
    }

    @Test
    void nullUndersizedAndClosedMemory() {
        fails("x is null", () -> {
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor q =
                        Kernels.quantize(arena, Tensor.allocate(arena, DType.F32, 8, 64), QuantSpec.of(4, 32));
                Kernels.dequantGemm(arena, null, q, null);
            }
        });
        fails(
                "segment of 16 bytes is too small for F32 [8, 64]",
                () -> Tensor.wrap(MemorySegment.ofArray(new float[4]), DType.F32, 8, 64));
        Tensor dead;
        try (Arena arena = Arena.ofConfined()) {
            dead = Tensor.allocate(arena, DType.F32, 8, 64);
        }
        fails("arena is already closed", () -> {
            try (Arena arena = Arena.ofConfined()) {
                Kernels.quantize(arena, dead, QuantSpec.of(4, 32));
            }
        });
        fails("dimensions must be positive", () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor.allocate(arena, DType.F32, 0, 3);
            }
        });
    }

    @Test
    void nonFiniteInputsAreRejectedWithTheirLocation() {
        try (Arena arena = Arena.ofConfined()) {
            float[] w = new float[8 * 64];
            w[3 * 64 + 40] = Float.NaN;
            LowbitException e = assertThrows(
                    LowbitException.class,
                    () -> Kernels.quantize(arena, Tensor.of(arena, w, 8, 64), QuantSpec.of(4, 32)));
            assertEquals(3, e.status());
            assertTrue(e.getMessage().contains("NaN or Inf in the group starting at weight [3, 32]"), e.getMessage());

            QuantizedTensor q = Kernels.quantize(arena, Tensor.allocate(arena, DType.F32, 8, 64), QuantSpec.of(4, 32));
            float[] x = new float[2 * 64];
            x[64 + 5] = Float.POSITIVE_INFINITY;
            fails(
                    "NaN or Inf in activation row 1",
                    () -> Kernels.dequantGemm(arena, Tensor.of(arena, x, 2, 64), q, null));
            fails("NaN or Inf in row 1", () -> Kernels.quantizeActivations(arena, Tensor.of(arena, x, 2, 64), 8));
            float[] s = {1f, 1f};
            fails(
                    "NaN or Inf at weight [1, 5]",
                    () -> Kernels.fakeQuantForward(
                            arena,
                            Tensor.of(arena, x, 2, 64),
                            new FakeQuantParams(
                                    Tensor.of(arena, s, 2, 1), Tensor.of(arena, new float[2], 2, 1), null, 4, 64)));
            fails(
                    "need a finite scale > 0",
                    () -> Kernels.fakeQuantForward(
                            arena,
                            Tensor.allocate(arena, DType.F32, 2, 64),
                            new FakeQuantParams(
                                    Tensor.of(arena, new float[] {1f, 0f}, 2, 1),
                                    Tensor.of(arena, new float[2], 2, 1),
                                    null,
                                    4,
                                    64)));
        }
    }

    @Test
    void fp16ScaleOverflowAsksForFp32Scales() {
        try (Arena arena = Arena.ofConfined()) {
            float[] w = new float[2 * 32];
            w[7] = 3e9f;
            fails(
                    "exceeds fp16's 65504; use fp32 scales",
                    () -> Kernels.quantize(
                            arena,
                            Tensor.of(arena, w, 2, 32),
                            new QuantSpec(4, 32, false, QuantSpec.Range.MINMAX, DType.F16)));
        }
    }
}
