package dev.lowbit.runtime.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** slice: a shaped view of a range of a flat buffer, checked against the buffer's bounds. */
class TensorSliceTest {
    @Test
    void aSliceIsAViewOfTheRangeInRowMajorOrder() {
        try (Arena arena = Arena.ofConfined()) {
            float[] values = new float[12];
            for (int i = 0; i < values.length; i++) values[i] = i;
            Tensor flat = Tensor.of(arena, values, 12);
            Tensor s = flat.slice(5, 2, 3);
            assertArrayEquals(new long[] {2, 3}, s.shape());
            assertArrayEquals(new float[] {5, 6, 7, 8, 9, 10}, s.toFloatArray());
            s.setFloat(-1f, 1, 2);
            assertEquals(-1f, flat.getFloat(10), "the slice shares the buffer's memory");
            assertArrayEquals(new float[] {11}, flat.slice(11, 1).toFloatArray());
            assertArrayEquals(
                    new float[] {3, 4},
                    Tensor.of(arena, values, 3, 4).slice(3, 2).toFloatArray(),
                    "of any contiguous tensor");
        }
    }

    @Test
    void slicesOutsideTheBufferOrOfStridedTensorsAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor flat = Tensor.allocate(arena, DType.F32, 12);
            LowbitException e = assertThrows(LowbitException.class, () -> flat.slice(7, 2, 3));
            assertTrue(e.getMessage().contains("elements [7, 13) are outside"), e.getMessage());
            assertThrows(LowbitException.class, () -> flat.slice(-1, 2));
            assertThrows(LowbitException.class, () -> flat.slice(0, 0, 3));
            assertThrows(
                    LowbitException.class,
                    () -> Tensor.allocate(arena, DType.F32, 3, 4).transpose().slice(0, 2));
        }
    }
}
