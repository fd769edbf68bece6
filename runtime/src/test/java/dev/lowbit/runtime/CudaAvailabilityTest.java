package dev.lowbit.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** Asking for a GPU that cannot be used is a clear error on every machine, with or without one. */
class CudaAvailabilityTest {
    @Test
    void anUnusableDeviceIsRefusedWithTheReason() {
        Device missing = Device.cuda(Cuda.deviceCount()); // one past the last GPU: none here without a GPU
        try (Arena arena = Arena.ofConfined()) {
            LowbitException e = assertThrows(LowbitException.class, () -> Tensor.allocate(arena, missing, DType.F32, 4, 4));
            if (Cuda.available()) {
                assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
            } else {
                assertFalse(Cuda.unavailableReason().isBlank());
                assertEquals("CUDA is not available here: " + Cuda.unavailableReason() + ". Use Device.CPU", e.getMessage());
                assertEquals(0, Cuda.deviceCount());
            }
        }
    }
}
