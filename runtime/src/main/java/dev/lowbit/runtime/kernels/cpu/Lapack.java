package dev.lowbit.runtime.kernels.cpu;

import dev.lowbit.bindings.lapack.lapack_h;
import dev.lowbit.runtime.LowbitException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Cholesky factorisation and inverse of symmetric positive definite fp64 matrices through LAPACK
 * (dpotrf, dpotri), as exported by the CBLAS library ({@link Blas}; OpenBLAS ships LAPACK).
 * Matrices are row-major [n, n] with row stride n; since they are symmetric, LAPACK's column-major
 * lower triangle is the row-major upper triangle, which is the one these methods read and write.
 */
public final class Lapack {
    static {
        Blas.libraryPath(); // loads the library whose symbols lapack_h looks up
    }

    private Lapack() {}

    /**
     * Factors a = Uᵀ U in place: the upper triangle of a becomes U; its strict lower triangle is
     * left as it was. Returns LAPACK's info: 0, or i > 0 when the leading minor of order i is not
     * positive definite (a is then partly overwritten).
     */
    public static int choleskyUpper(MemorySegment a, long n) {
        return call(true, a, n);
    }

    /**
     * a⁻¹ from its factor U (as {@link #choleskyUpper} leaves it), into the upper triangle of a;
     * returns info: 0, or i > 0 when U[i-1, i-1] is zero (a is singular).
     */
    public static int inverseFromCholeskyUpper(MemorySegment a, long n) {
        return call(false, a, n);
    }

    private static int call(boolean factor, MemorySegment a, long n) {
        if (n <= 0 || n > Integer.MAX_VALUE)
            throw new LowbitException("LAPACK n = " + n + " is outside the 32-bit range LAPACK takes");
        if (n * n > Long.MAX_VALUE / Double.BYTES || a.byteSize() < n * n * Double.BYTES)
            throw new LowbitException(
                    "LAPACK: " + a.byteSize() + " bytes hold less than an fp64 [" + n + ", " + n + "] matrix");
        if (!a.isNative()) throw new LowbitException("LAPACK needs a native (off-heap) matrix");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment uplo = arena.allocateFrom(ValueLayout.JAVA_BYTE, (byte) 'L'); // column-major L = row-major U
            MemorySegment size = arena.allocateFrom(ValueLayout.JAVA_INT, (int) n);
            MemorySegment info = arena.allocate(ValueLayout.JAVA_INT);
            try {
                if (factor) lapack_h.dpotrf_(uplo, size, a, size, info, 1);
                else lapack_h.dpotri_(uplo, size, a, size, info, 1);
            } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
                throw new LowbitException(
                        Blas.libraryPath() + " has no LAPACK (dpotrf_/dpotri_); use OpenBLAS (Debian/Ubuntu: "
                                + "apt-get install libopenblas0-pthread) or set LOWBIT_BLAS to a BLAS with LAPACK",
                        e);
            }
            int result = info.get(ValueLayout.JAVA_INT, 0);
            if (result < 0)
                throw new LowbitException(
                        "LAPACK rejected argument " + -result + " (a bug in the arguments lowbit passes)");
            return result;
        }
    }
}
