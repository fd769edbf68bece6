package dev.lowbit.runtime.kernels.cpu;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.bindings.cblas.cblas_h;
import dev.lowbit.runtime.LowbitException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;

/** Dense GEMM through CBLAS (OpenBLAS), loaded at first use: fp32 for the models, fp64 for GPTQ's Hessians. */
public final class Blas {
    private static final Path LIBRARY = NativeLibraries.loadBlas();

    private Blas() {}

    public static Path libraryPath() {
        return LIBRARY;
    }

    /** OpenBLAS's build configuration and core ("OpenBLAS 0.3.21 ... Haswell"), if it is OpenBLAS. */
    public static Optional<String> describe() {
        try {
            String config = cblas_h.openblas_get_config().reinterpret(256).getString(0);
            String core = cblas_h.openblas_get_corename().reinterpret(64).getString(0);
            String threading = switch (cblas_h.openblas_get_parallel()) {
                case 0 -> "sequential";
                case 1 -> "pthreads";
                case 2 -> "OpenMP, sharing liblowbit's thread pool";
                default -> "threading unknown";
            };
            return Optional.of(config.trim() + " (core " + core + ", " + cblas_h.openblas_get_num_threads()
                    + " threads, " + threading + ")");
        } catch (UnsatisfiedLinkError notOpenBlas) {
            return Optional.empty();
        }
    }

    /**
     * Row-major C[m, n] = alpha * op(A) op(B) + beta * C, op(X) = X or its transpose; lda, ldb,
     * ldc are row strides in elements. Sizes are checked against the segments before the call.
     */
    public static void sgemm(
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            float alpha,
            MemorySegment a,
            long lda,
            MemorySegment b,
            long ldb,
            float beta,
            MemorySegment c,
            long ldc) {
        int im = blasInt(m, "m"), in = blasInt(n, "n"), ik = blasInt(k, "k");
        requireCovers(a, transA ? k : m, transA ? m : k, lda, "A", Float.BYTES);
        requireCovers(b, transB ? n : k, transB ? k : n, ldb, "B", Float.BYTES);
        requireCovers(c, m, n, ldc, "C", Float.BYTES);
        cblas_h.cblas_sgemm(
                cblas_h.CblasRowMajor(),
                transA ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                transB ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                im,
                in,
                ik,
                alpha,
                a,
                blasInt(lda, "lda"),
                b,
                blasInt(ldb, "ldb"),
                beta,
                c,
                blasInt(ldc, "ldc"));
    }

    /** y[m] = alpha * A[m, n] x + beta * y, A row-major with row stride lda. */
    public static void sgemv(
            long m, long n, float alpha, MemorySegment a, long lda, MemorySegment x, float beta, MemorySegment y) {
        requireCovers(a, m, n, lda, "A", Float.BYTES);
        requireCovers(x, 1, n, n, "x", Float.BYTES);
        requireCovers(y, 1, m, m, "y", Float.BYTES);
        cblas_h.cblas_sgemv(
                cblas_h.CblasRowMajor(),
                cblas_h.CblasNoTrans(),
                blasInt(m, "m"),
                blasInt(n, "n"),
                alpha,
                a,
                blasInt(lda, "lda"),
                x,
                1,
                beta,
                y,
                1);
    }

    /** As {@link #sgemm}, in fp64. */
    public static void dgemm(
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            double alpha,
            MemorySegment a,
            long lda,
            MemorySegment b,
            long ldb,
            double beta,
            MemorySegment c,
            long ldc) {
        int im = blasInt(m, "m"), in = blasInt(n, "n"), ik = blasInt(k, "k");
        requireCovers(a, transA ? k : m, transA ? m : k, lda, "A", Double.BYTES);
        requireCovers(b, transB ? n : k, transB ? k : n, ldb, "B", Double.BYTES);
        requireCovers(c, m, n, ldc, "C", Double.BYTES);
        cblas_h.cblas_dgemm(
                cblas_h.CblasRowMajor(),
                transA ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                transB ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                im,
                in,
                ik,
                alpha,
                a,
                blasInt(lda, "lda"),
                b,
                blasInt(ldb, "ldb"),
                beta,
                c,
                blasInt(ldc, "ldc"));
    }

    /**
     * The upper triangle of row-major C[n, n] = alpha * Aᵀ A + beta * C for A [k, n] (row stride
     * lda), in fp64; the strict lower triangle of C is left as it was.
     */
    public static void dsyrkUpperTransposed(
            long n, long k, double alpha, MemorySegment a, long lda, double beta, MemorySegment c, long ldc) {
        int in = blasInt(n, "n"), ik = blasInt(k, "k");
        requireCovers(a, k, n, lda, "A", Double.BYTES);
        requireCovers(c, n, n, ldc, "C", Double.BYTES);
        cblas_h.cblas_dsyrk(
                cblas_h.CblasRowMajor(),
                cblas_h.CblasUpper(),
                cblas_h.CblasTrans(),
                in,
                ik,
                alpha,
                a,
                blasInt(lda, "lda"),
                beta,
                c,
                blasInt(ldc, "ldc"));
    }

    private static int blasInt(long v, String what) {
        if (v <= 0 || v > Integer.MAX_VALUE)
            throw new LowbitException("BLAS " + what + " = " + v + " is outside the 32-bit range CBLAS takes");
        return (int) v;
    }

    private static void requireCovers(MemorySegment s, long rows, long cols, long ld, String what, int bytes) {
        if (ld < cols)
            throw new LowbitException("BLAS " + what + ": leading dimension " + ld + " < " + cols + " columns");
        long needed = ((rows - 1) * ld + cols) * bytes;
        if (s.byteSize() < needed)
            throw new LowbitException(
                    "BLAS " + what + ": " + s.byteSize() + " bytes hold less than the " + needed + " needed");
    }
}
