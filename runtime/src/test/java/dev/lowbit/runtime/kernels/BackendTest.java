package dev.lowbit.runtime.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** Which backend runs a device's kernels, and how a failing native status reads. */
class BackendTest {
    @Test
    void theHostRunsOnLiblowbitAndBlasInFp32() {
        assertSame(Backend.of(Device.CPU), Backend.of(Device.CPU));
        assertTrue(Backend.of(Device.CPU) instanceof CpuBackend);
        assertArrayEquals(new DType[] {DType.F32}, Backend.of(Device.CPU).gemmTypes());
    }

    @Test
    void anUnusableGpuIsRefusedBeforeAnyKernel() {
        Device missing = Device.cuda(Cuda.deviceCount()); // one past the last GPU
        LowbitException e = assertThrows(LowbitException.class, () -> Backend.of(missing));
        assertTrue(
                e.getMessage().contains(Cuda.available() ? "does not exist" : "CUDA is not available here"),
                e.getMessage());
    }

    @Test
    void aFailingStatusNamesTheOperationAndTheStatus() {
        try (Arena arena = Arena.ofConfined()) {
            float[] w = new float[4 * 32];
            w[5] = Float.NaN;
            QuantSpec spec = QuantSpec.of(4, 32);
            LowbitException e = assertThrows(
                    LowbitException.class, () -> Kernels.quantize(arena, Tensor.of(arena, w, 4, 32), spec));
            assertEquals(3, e.status()); // LB_ERR_NON_FINITE
            assertTrue(e.getMessage().startsWith("quantize " + spec + " failed (non-finite input): "), e.getMessage());
        }
    }

    @Test
    void statusNamesFollowLowbitH() {
        // the numbers as lowbit.h defines them
        assertEquals("invalid argument", Native.statusName(1));
        assertEquals("unsupported", Native.statusName(2));
        assertEquals("non-finite input", Native.statusName(3));
        assertEquals("out of range", Native.statusName(4));
        assertEquals("out of memory", Native.statusName(5));
        assertEquals("CUDA error", Native.statusName(6));
        assertEquals("status 42", Native.statusName(42));
    }
}
