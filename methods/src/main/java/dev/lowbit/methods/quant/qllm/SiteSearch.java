package dev.lowbit.methods.quant.qllm;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The per-layer threshold search at one reassembly site: the error of a plan is the squared
 * difference, over the calibration tokens, between the full-precision outputs x W_i^T of every
 * linear reading the site and its quantized, reassembled form Q_a(R x) Q_w(W_i R)^T.
 */
final class SiteSearch {
    private final QllmConfig cfg;
    private final Tensor x;
    private final List<Tensor> weights;
    private final List<float[]> weightValues;
    private final List<Tensor> reference;
    private final ChannelReassembly.SiteStats stats;
    private final ChannelReassembly.Plan best;
    private final double identityError;
    private final double bestError;

    SiteSearch(Arena arena, float[][] tokens, List<Tensor> weights, QllmConfig cfg) {
        this.cfg = cfg;
        int c = tokens[0].length;
        float[] flat = new float[tokens.length * c];
        for (int t = 0; t < tokens.length; t++) System.arraycopy(tokens[t], 0, flat, t * c, c);
        this.x = Tensor.of(arena, flat, tokens.length, c);
        this.weights = weights;
        this.weightValues = weights.stream().map(Tensor::toFloatArray).toList();
        this.reference = weights.stream()
                .map(w -> Kernels.matmul(arena, x, w.transpose()))
                .toList();
        float[] columnSums = new float[c];
        for (float[] v : weightValues) for (int i = 0; i < v.length; i++) columnSums[i % c] += v[i];
        this.stats = ChannelReassembly.SiteStats.of(tokens, columnSums);
        this.identityError = error(ChannelReassembly.identity(c, Float.POSITIVE_INFINITY));
        this.best = ChannelReassembly.search(stats, this::error);
        this.bestError = error(best);
    }

    ChannelReassembly.Plan best() {
        return best;
    }

    double identityError() {
        return identityError;
    }

    double bestError() {
        return bestError;
    }

    private double error(ChannelReassembly.Plan plan) {
        try (Arena arena = Arena.ofConfined()) {
            long m = x.dim(0), k = plan.outChannels();
            Tensor xr = Tensor.allocate(arena, DType.F32, m, k);
            Kernels.channelReassemble(x, plan.toMap(arena), xr);
            if (cfg.abits() < 16) Kernels.fakeQuantGroups(xr, (int) k, cfg.abits(), xr);
            double e = 0;
            for (int i = 0; i < weights.size(); i++) {
                Tensor w = weights.get(i);
                Tensor wr = Tensor.of(arena, plan.reassembleWeights(weightValues.get(i), (int) w.dim(0)), w.dim(0), k);
                Kernels.fakeQuantGroups(wr, cfg.weightSpec().groupSizeFor(k), cfg.wbits(), wr);
                Tensor y = Kernels.matmul(arena, xr, wr.transpose());
                e += squaredDistance(y, reference.get(i));
            }
            return e;
        }
    }

    static double squaredDistance(Tensor a, Tensor b) {
        MemorySegment sa = a.segment(), sb = b.segment();
        double e = 0;
        for (long i = 0; i < a.numel(); i++) {
            double d = sa.getAtIndex(ValueLayout.JAVA_FLOAT, i) - sb.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            e += d * d;
        }
        return e;
    }
}
