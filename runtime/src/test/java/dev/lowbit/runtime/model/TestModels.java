package dev.lowbit.runtime.model;

import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.function.Function;

/** Random test models with each kind of {@link Linear}, as the quantization methods build them. */
final class TestModels {
    private TestModels() {}

    /** The kinds of block linears a test model can have. */
    enum Kind {
        FP32,
        W4,
        W4A8,
        W6A6,
        REASSEMBLED,
        REASSEMBLED_W4A8
    }

    private static final int SPLIT = 32;

    static LlamaModel random(Arena arena, LlamaConfig config, long seed, Kind kind) {
        return new LlamaModel(LlamaModelTest.randomWeights(arena, config, seed), (layer, p, w) -> switch (kind) {
            case FP32 -> new Linear.Dense(w);
            case W4 -> new Linear.Quantized(Kernels.quantize(arena, w, QuantSpec.of(4, 32)));
            case W4A8 -> new Linear.ActQuantized(Kernels.quantize(arena, w, QuantSpec.of(4, 32)), 8);
            case W6A6 -> new Linear.ActQuantized(Kernels.quantize(arena, w, QuantSpec.of(6, 32)), 6);
            case REASSEMBLED -> reassembled(arena, w, Linear.Dense::new);
            case REASSEMBLED_W4A8 ->
                reassembled(arena, w, r -> new Linear.ActQuantized(Kernels.quantize(arena, r, QuantSpec.of(4, 32)), 8));
        });
    }

    /**
     * y = x . W^T behind a channel reassembly that splits input channels 0..31 each into two halves
     * (QLLM's disassembly): the map gives k + 32 channels, the re-laid weight repeats columns 0..31 at
     * the end. With a dense inner layer it is the dense layer up to rounding, so a reference checks it.
     */
    static Linear reassembled(Arena arena, Tensor w, Function<Tensor, Linear> inner) {
        int n = (int) w.dim(0), k = (int) w.dim(1), kOut = k + SPLIT;
        int[] ia = new int[kOut], ib = new int[kOut];
        float[] sa = new float[kOut], sb = new float[kOut];
        for (int j = 0; j < kOut; j++) {
            ia[j] = j < k ? j : j - k;
            sa[j] = j < SPLIT || j >= k ? 0.5f : 1f;
        }
        float[] src = w.toFloatArray(), relaid = new float[n * kOut];
        for (int r = 0; r < n; r++) {
            System.arraycopy(src, r * k, relaid, r * kOut, k);
            System.arraycopy(src, r * k, relaid, r * kOut + k, SPLIT);
        }
        return new Linear.Reassembled(
                ChannelMap.of(arena, ia, ib, sa, sb, k), inner.apply(Tensor.of(arena, relaid, n, kOut)));
    }
}
