package dev.lowbit.runtime.model;

import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.QuantizedTensor;
import dev.lowbit.runtime.Tensor;
import java.lang.foreign.Arena;

/** A linear layer y = x . W^T with W [out, in], dense fp32 or group-quantized. */
public sealed interface Linear permits Linear.Dense, Linear.Quantized {
    /** out = in . W^T + beta * out (beta 0 or 1); scratch memory comes from arena. */
    void apply(Arena arena, Tensor in, Tensor out, float beta);

    long outFeatures();

    long inFeatures();

    /** fp32 weights through CBLAS. */
    record Dense(Tensor weight) implements Linear {
        @Override
        public void apply(Arena arena, Tensor in, Tensor out, float beta) {
            Kernels.matmul(in, weight.transpose(), out, 1f, beta);
        }

        @Override
        public long outFeatures() {
            return weight.dim(0);
        }

        @Override
        public long inFeatures() {
            return weight.dim(1);
        }
    }

    /** Group-quantized weights through the fused dequant-GEMM. */
    record Quantized(QuantizedTensor weight) implements Linear {
        @Override
        public void apply(Arena arena, Tensor in, Tensor out, float beta) {
            if (beta == 0f) {
                Kernels.dequantGemm(in, weight, null, out);
                return;
            }
            if (beta != 1f) throw new dev.lowbit.runtime.LowbitException("a quantized linear takes beta 0 or 1, got " + beta);
            Tensor y = Tensor.allocate(arena, DType.F32, out.shape());
            Kernels.dequantGemm(in, weight, null, y);
            Elementwise.addInto(y, out);
        }

        @Override
        public long outFeatures() {
            return weight.rows();
        }

        @Override
        public long inFeatures() {
            return weight.cols();
        }
    }
}
