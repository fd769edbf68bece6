package dev.lowbit.bench;

import dev.lowbit.bindings.lowbit.lowbit_h;
import dev.lowbit.bindings.lowbit_cuda.lowbit_cuda_h;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * W4 weights on a GPU with the repacked copy liblowbit_cuda's Marlin small-M kernel reads (lowbit.h:
 * lb_cuda_repack_marlin), for racing it against the CUDA-core kernel; shapes are checked here before each
 * downcall. The runtime's layers do not use it yet: the GPU check (scripts/gpu-check.sh) decides which to keep.
 */
record MarlinWeights(QuantizedTensor weights, MemorySegment packed) {
    static final int CUDA_CORE = lowbit_h.LB_SMALL_M_CUDA_CORE(), MARLIN = lowbit_h.LB_SMALL_M_MARLIN();

    /** Repacks w (4 bits, on a GPU, k a multiple of 64 and n of 16) into new device memory of arena. */
    static MarlinWeights repack(Arena arena, QuantizedTensor w) {
        if (w.device().kind() == Device.Kind.CPU)
            throw new LowbitException("Marlin repack: the weights are on " + w.device() + "; move them to a GPU");
        Cuda.use(w.device());
        if (w.bits() != 4 || w.cols() % 64 != 0 || w.rows() % 16 != 0)
            throw new LowbitException(
                    "Marlin repack: needs 4-bit weights with k a multiple of 64 and n of 16, got " + w);
        MemorySegment packed = Cuda.allocate(arena, w.device(), w.rows() * w.cols() / 2);
        Cuda.checkKernel(
                lowbit_cuda_h.lb_cuda_repack_marlin(w.descriptor(), packed, Cuda.stream(w.device())), "Marlin repack");
        return new MarlinWeights(w, packed);
    }

    /** Chooses the small-M kernel of every later {@link #gemm}: {@link #CUDA_CORE} or {@link #MARLIN}. */
    static void select(int kernel) {
        Cuda.checkKernel(lowbit_cuda_h.lb_cuda_set_small_m_kernel(kernel), "small-M kernel choice");
    }

    /** y [m, n] (fp32) = x [m, k] (fp32, fp16 or bf16) . dequant(W)^T, both contiguous on the weights' GPU. */
    void gemm(Tensor x, Tensor y) {
        long n = weights.rows(), k = weights.cols();
        if (!x.device().equals(weights.device()) || !y.device().equals(weights.device()))
            throw new LowbitException("Marlin gemm: x on " + x.device() + " and y on " + y.device()
                    + ", the weights on " + weights.device());
        if (x.rank() != 2 || x.dim(1) != k || !x.isContiguous() || x.dtype().nativeCode() < 0)
            throw new LowbitException(
                    "Marlin gemm: x must be a contiguous [m, " + k + "] fp32, fp16 or bf16 matrix, got " + x);
        if (y.rank() != 2 || y.dim(0) != x.dim(0) || y.dim(1) != n || !y.isContiguous() || y.dtype() != DType.F32)
            throw new LowbitException(
                    "Marlin gemm: y must be a contiguous fp32 [" + x.dim(0) + ", " + n + "] matrix, got " + y);
        Cuda.use(weights.device());
        Cuda.checkKernel(
                lowbit_cuda_h.lb_cuda_dequant_gemm_repacked(
                        x.segment(),
                        x.dtype().nativeCode(),
                        x.dim(0),
                        weights.descriptor(),
                        packed,
                        MemorySegment.NULL,
                        y.segment(),
                        Cuda.stream(weights.device())),
                "Marlin dequant-GEMM");
    }
}
