package dev.lowbit.runtime.model;

import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.QuantizedTensor;
import dev.lowbit.runtime.Tensor;
import java.lang.foreign.Arena;

/**
 * A linear layer y = x . W^T with W [out, in]: dense fp32, group-quantized weights, or quantized
 * weights and activations.
 */
public sealed interface Linear permits Linear.Dense, Linear.Quantized, Linear.ActQuantized {
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
            intoOrAdded(arena, out, beta, y -> Kernels.dequantGemm(in, weight, null, y));
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

    /**
     * Quantized weights and per-token dynamic asymmetric activations (W4A8, W8A8, W4A4): every input
     * row is quantized to activationBits on the fly and multiplied with exact integer dot products.
     */
    record ActQuantized(QuantizedTensor weight, int activationBits) implements Linear {
        public ActQuantized {
            if (activationBits != 4 && activationBits != 8)
                throw new dev.lowbit.runtime.LowbitException(activationBits + "-bit activations have no integer kernel: use 4 or 8");
            if (weight.bits() != 4 && weight.bits() != 8)
                throw new dev.lowbit.runtime.LowbitException("quantized activations need 4- or 8-bit weights for the integer GEMM, got "
                        + weight.bits() + "-bit");
        }

        @Override
        public void apply(Arena arena, Tensor in, Tensor out, float beta) {
            dev.lowbit.runtime.QuantizedActivations a = Kernels.quantizeActivations(arena, in, activationBits);
            intoOrAdded(arena, out, beta, y -> Kernels.intGemm(a, weight, null, y));
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

    /** product writes into out (beta 0), or into scratch that is then added to out (beta 1): the quantized kernels have no beta. */
    private static void intoOrAdded(Arena arena, Tensor out, float beta, java.util.function.Consumer<Tensor> product) {
        if (beta == 0f) {
            product.accept(out);
            return;
        }
        if (beta != 1f) throw new dev.lowbit.runtime.LowbitException("a quantized linear takes beta 0 or 1, got " + beta);
        Tensor y = Tensor.allocate(arena, DType.F32, out.shape());
        product.accept(y);
        Elementwise.addInto(y, out);
    }

    /** The quantized weights of a quantized linear; a clear error for a dense one. */
    static QuantizedTensor quantizedWeight(Linear l) {
        return switch (l) {
            case Quantized q -> q.weight();
            case ActQuantized a -> a.weight();
            case Dense d -> throw new dev.lowbit.runtime.LowbitException("the model has full-precision linear layers; quantize it first");
        };
    }

    /** 16 when activations stay full precision, else their bits. */
    static int activationBits(Linear l) {
        return l instanceof ActQuantized a ? a.activationBits() : 16;
    }
}
