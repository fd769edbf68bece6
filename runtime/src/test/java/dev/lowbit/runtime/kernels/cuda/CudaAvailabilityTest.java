package dev.lowbit.runtime.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * Asking for a GPU that cannot be used is a clear error on every machine, with or without one; the
 * host side of {@link Tensor#copyFrom}.
 */
class CudaAvailabilityTest {
    @Test
    void anUnusableDeviceIsRefusedWithTheReason() {
        Device missing = Device.cuda(Cuda.deviceCount()); // one past the last GPU: none here without a GPU
        try (Arena arena = Arena.ofConfined()) {
            LowbitException e =
                    assertThrows(LowbitException.class, () -> Tensor.allocate(arena, missing, DType.F32, 4, 4));
            if (Cuda.available()) {
                assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
            } else {
                assertFalse(Cuda.unavailableReason().isBlank());
                assertEquals(
                        "CUDA is not available here: " + Cuda.unavailableReason()
                                + ". Use Device.CPU (on the command line: --device cpu)",
                        e.getMessage());
                assertEquals(0, Cuda.deviceCount());
            }
        }
    }

    @Test
    void streamsAndPinnedMemoryNeedAUsableGpu() {
        Device missing = Device.cuda(Cuda.deviceCount());
        LowbitException stream = assertThrows(LowbitException.class, () -> CudaStream.create(missing));
        assertTrue(
                stream.getMessage().contains(Cuda.available() ? "does not exist" : "CUDA is not available here"),
                stream.getMessage());
        if (!Cuda.available()) {
            try (Arena arena = Arena.ofConfined()) {
                LowbitException pinned =
                        assertThrows(LowbitException.class, () -> Tensor.allocatePinned(arena, DType.F32, 8));
                assertTrue(
                        pinned.getMessage().startsWith("pinned host memory needs CUDA, which is not available here: "),
                        pinned.getMessage());
            }
        }
    }

    @Test
    void copyFromCopiesBetweenHostTensorsOfOneShape() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor src = Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3),
                    dst = Tensor.allocate(arena, DType.F32, 2, 3);
            dst.copyFrom(src);
            assertArrayEquals(src.toFloatArray(), dst.toFloatArray());
            LowbitException shape = assertThrows(
                    LowbitException.class,
                    () -> Tensor.allocate(arena, DType.F32, 3, 2).copyFrom(src));
            assertTrue(shape.getMessage().contains("dtype and shape must match"), shape.getMessage());
            LowbitException strided = assertThrows(
                    LowbitException.class,
                    () -> Tensor.allocate(arena, DType.F32, 3, 2).transpose().copyFrom(src));
            assertTrue(strided.getMessage().contains("contiguous"), strided.getMessage());
        }
    }

    @Test
    void devicesAreParsedAsTheCommandLineWritesThem() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(3), Device.parse(" CUDA:3 "));
        LowbitException e = assertThrows(LowbitException.class, () -> Device.parse("gpu0"));
        assertEquals("unknown device \"gpu0\": use cpu, cuda or cuda:N", e.getMessage());
    }
}
