package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.function.Consumer;

/**
 * A linear layer y = x . W^T with W [out, in]: dense fp32, group-quantized weights, quantized
 * weights and activations, or any of these behind QLLM's channel reassembly.
 */
public sealed interface Linear permits Linear.Dense, Linear.Quantized, Linear.ActQuantized, Linear.Reassembled {
    /** out = in . W^T + beta * out (beta 0 or 1), with scratch memory sized for this layer and in (see {@link LinearScratch}). */
    void apply(LinearScratch scratch, Tensor in, Tensor out, float beta);

    /** As {@link #apply(LinearScratch, Tensor, Tensor, float)}, with scratch memory allocated in arena for this call. */
    default void apply(Arena arena, Tensor in, Tensor out, float beta) {
        apply(LinearScratch.of(arena, in.device(), in.numel() / in.dim(-1), List.of(this)), in, out, beta);
    }

    long outFeatures();

    long inFeatures();

    /** This layer with its weights (and map, code sums) copied to device. */
    Linear to(Arena arena, Device device);

    /** fp32 weights through CBLAS. */
    record Dense(Tensor weight) implements Linear {
        @Override
        public void apply(LinearScratch scratch, Tensor in, Tensor out, float beta) {
            Kernels.matmul(in, weight.transpose(), out, 1f, beta);
        }

        @Override
        public Linear to(Arena arena, Device device) {
            return new Dense(weight.to(arena, device));
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
        public void apply(LinearScratch scratch, Tensor in, Tensor out, float beta) {
            intoOrAdded(scratch, out, beta, y -> Kernels.dequantGemm(in, weight, null, y));
        }

        @Override
        public Linear to(Arena arena, Device device) {
            return new Quantized(weight.to(arena, device));
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
     * Quantized weights and per-token dynamic asymmetric activations: every input row is quantized
     * to activationBits on the fly. W4/W8 x A4/A8 multiply with exact integer dot products; other
     * combinations (e.g. W6A6) are simulated: the activations are fake-quantized (quantized and
     * dequantized) and multiplied through the dequant-GEMM.
     */
    record ActQuantized(QuantizedTensor weight, int activationBits, Tensor codeSums) implements Linear {
        /**
         * The weights must not change afterwards: their code sums (the integer kernel's zero-point
         * term) are taken here, once, into memory the garbage collector frees with the layer.
         */
        public ActQuantized(QuantizedTensor weight, int activationBits) {
            this(
                    weight,
                    activationBits,
                    integerKernel(weight, activationBits) ? Kernels.weightCodeSums(Arena.ofAuto(), weight) : null);
        }

        public ActQuantized {
            if (activationBits < 2 || activationBits > 8)
                throw new LowbitException(
                        activationBits + "-bit activations are not supported: use 2 to 8 (16 keeps them fp32)");
        }

        /** Whether an integer kernel runs this layer (else fake-quantized activations simulate it). */
        public boolean integerKernel() {
            return integerKernel(weight, activationBits);
        }

        private static boolean integerKernel(QuantizedTensor weight, int activationBits) {
            return integerKernel(weight.bits(), activationBits);
        }

        /** Whether weightBits x activationBits has an integer kernel (W4/W8 x A4/A8). */
        public static boolean integerKernel(int weightBits, int activationBits) {
            return (activationBits == 4 || activationBits == 8) && (weightBits == 4 || weightBits == 8);
        }

        @Override
        public void apply(LinearScratch scratch, Tensor in, Tensor out, float beta) {
            if (integerKernel()) {
                QuantizedActivations a = scratch.activations(in.numel() / in.dim(-1), in.dim(-1), activationBits);
                Kernels.quantizeActivations(in, a);
                intoOrAdded(scratch, out, beta, y -> Kernels.intGemm(a, weight, codeSums, null, y));
            } else {
                Tensor fq = scratch.fakeQuantized(in.shape());
                Kernels.fakeQuantGroups(in, (int) in.dim(-1), activationBits, fq);
                intoOrAdded(scratch, out, beta, y -> Kernels.dequantGemm(fq, weight, null, y));
            }
        }

        @Override
        public Linear to(Arena arena, Device device) {
            return new ActQuantized(
                    weight.to(arena, device), activationBits, codeSums == null ? null : codeSums.to(arena, device));
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
     * QLLM's channel reassembly in front of a linear whose weights were re-laid for it: the input
     * [m, map.inChannels()] is gathered, split and averaged into [m, map.outChannels()] first.
     */
    record Reassembled(ChannelMap map, Linear inner) implements Linear {
        public Reassembled {
            if (inner.inFeatures() != map.outChannels())
                throw new LowbitException("the reassembly map gives " + map.outChannels()
                        + " channels, the layer takes " + inner.inFeatures());
            if (inner instanceof Reassembled) throw new LowbitException("a linear is reassembled once");
        }

        @Override
        public void apply(LinearScratch scratch, Tensor in, Tensor out, float beta) {
            Tensor x = scratch.reassembled(in.numel() / map.inChannels(), map.outChannels());
            Kernels.channelReassemble(in, map, x);
            inner.apply(scratch, x, out, beta);
        }

        @Override
        public Linear to(Arena arena, Device device) {
            return new Reassembled(map.to(arena, device), inner.to(arena, device));
        }

        @Override
        public long outFeatures() {
            return inner.outFeatures();
        }

        @Override
        public long inFeatures() {
            return map.inChannels();
        }
    }

    /** product writes into out (beta 0), or into scratch then added to out (beta 1): the quantized kernels have no beta. */
    private static void intoOrAdded(LinearScratch scratch, Tensor out, float beta, Consumer<Tensor> product) {
        if (beta == 0f) {
            product.accept(out);
            return;
        }
        if (beta != 1f) throw new LowbitException("a quantized linear takes beta 0 or 1, got " + beta);
        Tensor y = scratch.product(out.shape());
        product.accept(y);
        NnKernels.addInto(y, out);
    }

    /** The quantized weights of a quantized linear; a clear error for a dense one. */
    static QuantizedTensor quantizedWeight(Linear l) {
        return switch (l) {
            case Quantized q -> q.weight();
            case ActQuantized a -> a.weight();
            case Reassembled r -> quantizedWeight(r.inner());
            case Dense d -> throw new LowbitException("the model has full-precision linear layers; quantize it first");
        };
    }

    /** 16 when activations stay full precision, else their bits. */
    static int activationBits(Linear l) {
        return switch (l) {
            case ActQuantized a -> a.activationBits();
            case Reassembled r -> activationBits(r.inner());
            default -> 16;
        };
    }
}
