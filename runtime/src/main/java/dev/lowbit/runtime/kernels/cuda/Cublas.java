package dev.lowbit.runtime.kernels.cuda;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.bindings.cublas.cublas_h;
import dev.lowbit.bindings.lowbit.lowbit_h;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * Dense GEMM on a GPU through cuBLAS (libcublas, loaded by name at first use): one handle per
 * device, used under a lock (a cuBLAS handle is not for concurrent use), on the calling thread's
 * {@link CudaStream} in use, else the default stream.
 */
public final class Cublas {
    private static final Map<Device, MemorySegment> HANDLES = new HashMap<>();
    // alpha and beta for cublasGemmEx (host pointer mode: read when the call is made), reused under gemm's
    // lock so that a decode step allocates nothing here either
    private static final MemorySegment ALPHA = Arena.global().allocate(ValueLayout.JAVA_FLOAT);
    private static final MemorySegment BETA = Arena.global().allocate(ValueLayout.JAVA_FLOAT);

    private Cublas() {}

    /**
     * Row-major c [m, n] = alpha * op(a) op(b) + beta * c with fp32 accumulation and fp32 c; a and b
     * share a dtype (F32, F16, BF16); lda, ldb are the row strides of their stored matrices.
     */
    public static synchronized void gemm(
            Device device,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            float alpha,
            Tensor a,
            long lda,
            Tensor b,
            long ldb,
            float beta,
            Tensor c) {
        MemorySegment handle = handle(device);
        int type = switch (a.dtype()) {
            case F32 -> cublas_h.CUDA_R_32F();
            case F16 -> cublas_h.CUDA_R_16F();
            case BF16 -> cublas_h.CUDA_R_16BF();
            default -> throw new LowbitException("cuBLAS GEMM takes F32, F16 or BF16, got " + a.dtype());
        };
        check(cublas_h.cublasSetStream_v2(handle, Cuda.stream(device)), "cublasSetStream");
        ALPHA.set(ValueLayout.JAVA_FLOAT, 0, alpha);
        BETA.set(ValueLayout.JAVA_FLOAT, 0, beta);
        // row-major C = A B is column-major C^T = B^T A^T: swap the operands, keep each one's transpose flag
        check(
                cublas_h.cublasGemmEx(
                        handle,
                        transB ? cublas_h.CUBLAS_OP_T() : cublas_h.CUBLAS_OP_N(),
                        transA ? cublas_h.CUBLAS_OP_T() : cublas_h.CUBLAS_OP_N(),
                        dim(n, "n"),
                        dim(m, "m"),
                        dim(k, "k"),
                        ALPHA,
                        b.segment(),
                        type,
                        dim(ldb, "ldb"),
                        a.segment(),
                        type,
                        dim(lda, "lda"),
                        BETA,
                        c.segment(),
                        cublas_h.CUDA_R_32F(),
                        dim(n, "ldc"),
                        cublas_h.CUBLAS_COMPUTE_32F(),
                        cublas_h.CUBLAS_GEMM_DEFAULT()),
                "cublasGemmEx");
    }

    /** cuBLAS's version as a number (e.g. 130100), from a handle on device. */
    static synchronized int version(Device device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cublas_h.cublasGetVersion_v2(handle(device), v), "cublasGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private static MemorySegment handle(Device device) {
        Cuda.use(device);
        MemorySegment h = HANDLES.get(device);
        if (h == null) {
            try {
                NativeLibraries.loadCublas();
            } catch (UnsatisfiedLinkError e) {
                throw new LowbitException("cuBLAS is needed for dense GEMM on " + device + ": " + e.getMessage());
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                check(cublas_h.cublasCreate_v2(out), "cublasCreate");
                h = out.get(ValueLayout.ADDRESS, 0);
            }
            HANDLES.put(device, h); // lives as long as the process, as the CUDA context does
        }
        return h;
    }

    private static int dim(long v, String what) {
        if (v <= 0 || v > Integer.MAX_VALUE)
            throw new LowbitException("cuBLAS " + what + " = " + v + " is outside the 32-bit range");
        return (int) v;
    }

    private static void check(int status, String what) {
        if (status != cublas_h.CUBLAS_STATUS_SUCCESS()) {
            String text;
            try {
                text = cublas_h.cublasGetStatusString(status).reinterpret(256).getString(0);
            } catch (UnsatisfiedLinkError old) {
                text = "status " + status;
            }
            throw new LowbitException(lowbit_h.LB_ERR_CUDA(), what + " failed: " + text);
        }
    }
}
