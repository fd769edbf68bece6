package dev.lowbit.runtime.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.ref.TestData;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Dense fp32 GEMM through CBLAS against a plain-Java triple loop. */
class BlasTest {
    @Test
    void matmulMatchesReferenceForPlainAndTransposedOperands() {
        Random rnd = new Random(3);
        for (int[] mkn : new int[][] {{1, 33, 7}, {5, 17, 9}, {64, 40, 3}}) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            float[] a = TestData.gaussian(rnd, m * k, 1f), b = TestData.gaussian(rnd, k * n, 1f), bt = new float[n * k];
            for (int i = 0; i < k; i++) for (int j = 0; j < n; j++) bt[j * k + i] = b[i * n + j];
            try (Arena arena = Arena.ofConfined()) {
                Tensor at = Tensor.of(arena, a, m, k);
                float[] plain =
                        Kernels.matmul(arena, at, Tensor.of(arena, b, k, n)).toFloatArray();
                float[] viaTranspose = Kernels.matmul(
                                arena, at, Tensor.of(arena, bt, n, k).transpose())
                        .toFloatArray();
                float[] at2 = new float[k * m];
                for (int i = 0; i < m; i++) for (int l = 0; l < k; l++) at2[l * m + i] = a[i * k + l];
                float[] bothTransposed = Kernels.matmul(
                                arena,
                                Tensor.of(arena, at2, k, m).transpose(),
                                Tensor.of(arena, bt, n, k).transpose())
                        .toFloatArray();
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double ref = 0;
                        for (int l = 0; l < k; l++) ref += (double) a[i * k + l] * b[l * n + j];
                        assertEquals(ref, plain[i * n + j], 1e-4 * Math.sqrt(k), "plain [" + i + ", " + j + "]");
                        assertEquals(
                                ref, viaTranspose[i * n + j], 1e-4 * Math.sqrt(k), "transposed [" + i + ", " + j + "]");
                        assertEquals(
                                ref,
                                bothTransposed[i * n + j],
                                1e-4 * Math.sqrt(k),
                                "both transposed [" + i + ", " + j + "]");
                    }
            }
        }
    }

    @Test
    void mismatchedInnerDimensionIsAClearError() {
        try (Arena arena = Arena.ofConfined()) {
            LowbitException e = assertThrows(
                    LowbitException.class,
                    () -> Kernels.matmul(
                            arena, Tensor.allocate(arena, DType.F32, 2, 3), Tensor.allocate(arena, DType.F32, 4, 5)));
            assertEquals("matmul: a is [2, 3] but b is [4, 5]", e.getMessage());
        }
    }
}
