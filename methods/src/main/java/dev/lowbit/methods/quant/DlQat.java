package dev.lowbit.methods.quant;

import dev.lowbit.runtime.DType;
import dev.lowbit.runtime.FakeQuantGrads;
import dev.lowbit.runtime.FakeQuantParams;
import dev.lowbit.runtime.Kernels;
import dev.lowbit.runtime.QuantSpec;
import dev.lowbit.runtime.QuantizedTensor;
import dev.lowbit.runtime.Tensor;
import dev.lowbit.runtime.model.AdamW;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaParameters;
import dev.lowbit.runtime.model.LlamaTrainer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * DL-QAT (weight-decomposed low-rank quantization-aware training). The paper publishes no code;
 * this formulation is lowbit's: per group g of each block linear, a frozen scale s and zero z
 * from the min-max of W; codes q = clamp(round(W / s + z + lambda (BA)), 0, 2^b - 1), the LoRA
 * update BA counted in integer steps; weights W_hat = m * s * (q - z) with a trainable magnitude
 * m per group (initially 1). Rounding passes gradients straight through, the clamp stops them.
 * Only A [r, in], B [out, r] (B = 0 at start) and m train. Export folds m into the scales and
 * keeps the codes, so the exported model equals the trained fake-quantized one.
 */
public final class DlQat {
    /** One block linear: its frozen weight and quantization grid, LoRA factors and magnitudes. */
    private record Site(String slot, Tensor w, Tensor scales, Tensor zeros, Tensor a, Tensor b, Tensor mag, Tensor ga, Tensor gb,
                        Tensor gmag, int group) {}

    private final DlQatConfig cfg;
    private final LlamaParameters effective;
    private final LlamaParameters effectiveGrads;
    private final List<Site> sites = new ArrayList<>();
    private final Tensor lora;
    private final Tensor loraGrads;
    private final Tensor mags;
    private final Tensor magGrads;
    private final AdamW loraOpt;
    private final AdamW magOpt;
    private final LlamaTrainer trainer;
    private final long trainable;
    private final long total;

    public DlQat(Arena arena, LlamaParameters fp, DlQatConfig cfg) {
        this.cfg = cfg;
        this.effective = LlamaParameters.copyOf(arena, fp.weights());
        this.effectiveGrads = LlamaParameters.zeros(arena, fp.config());
        QuantSpec spec = QuantSpec.of(cfg.bits(), cfg.group());
        List<LlamaParameters.Slot> linearSlots = fp.slots().stream().filter(s -> isLinear(s.name())).toList();
        long loraSize = 0, magSize = 0;
        for (LlamaParameters.Slot s : linearSlots) {
            int g = spec.groupSizeFor(s.shape()[1]);
            loraSize += (long) cfg.rank() * (s.shape()[0] + s.shape()[1]);
            magSize += s.shape()[0] * (s.shape()[1] / g);
        }
        lora = Tensor.allocate(arena, DType.F32, loraSize);
        loraGrads = Tensor.allocate(arena, DType.F32, loraSize);
        mags = Tensor.allocate(arena, DType.F32, magSize);
        magGrads = Tensor.allocate(arena, DType.F32, magSize);
        List<LlamaParameters.Slot> loraSlots = new ArrayList<>(), magSlots = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(cfg.seed());
        long lo = 0, mo = 0;
        for (LlamaParameters.Slot s : linearSlots) {
            long out = s.shape()[0], in = s.shape()[1];
            int g = spec.groupSizeFor(in);
            QuantizedTensor init = Kernels.quantize(arena, fp.get(s.name()), spec);
            Tensor a = view(lora, lo, cfg.rank(), in), b = view(lora, lo + cfg.rank() * in, out, cfg.rank());
            Tensor ga = view(loraGrads, lo, cfg.rank(), in), gb = view(loraGrads, lo + cfg.rank() * in, out, cfg.rank());
            loraSlots.add(new LlamaParameters.Slot(s.name() + ".lora", lo, new long[] {cfg.rank() * (out + in)}, false));
            double std = 1 / Math.sqrt(in);
            for (long i = 0; i < a.numel(); i++) a.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (gaussian(rnd) * std));
            Tensor mag = view(mags, mo, out, in / g), gm = view(magGrads, mo, out, in / g);
            mag.segment().asSlice(0, mag.numel() * 4).elements(ValueLayout.JAVA_FLOAT).forEach(e -> e.set(ValueLayout.JAVA_FLOAT, 0, 1f));
            magSlots.add(new LlamaParameters.Slot(s.name() + ".magnitude", mo, new long[] {out * (in / g)}, false));
            sites.add(new Site(s.name(), fp.get(s.name()), init.scales(), init.zeros(), a, b, mag, ga, gb, gm, g));
            lo += cfg.rank() * (out + in);
            mo += out * (in / g);
        }
        loraOpt = new AdamW(lora, loraSlots, Tensor.allocate(arena, DType.F32, loraSize), Tensor.allocate(arena, DType.F32, loraSize),
                0.9f, 0.999f, 1e-8f, 0f);
        magOpt = new AdamW(mags, magSlots, Tensor.allocate(arena, DType.F32, magSize), Tensor.allocate(arena, DType.F32, magSize),
                0.9f, 0.999f, 1e-8f, 0f);
        trainer = new LlamaTrainer(arena, effective, effectiveGrads, cfg.batch(), cfg.seqLen(), DlQat::isLinear);
        trainable = loraSize + magSize;
        total = fp.config().parameterCount();
    }

    static boolean isLinear(String name) {
        return name.startsWith("model.layers.") && name.endsWith("_proj.weight");
    }

    /** Share of the model's parameters that train (LoRA factors and magnitudes). */
    public double trainableFraction() {
        return (double) trainable / total;
    }

    /** One optimizer step on a batch; returns the loss. */
    public float step(int[] inputs, int[] targets, int stepIndex) {
        try (Arena scratch = Arena.ofConfined()) {
            List<Tensor> wEff = new ArrayList<>();
            for (Site s : sites) {
                Tensor we = effectiveWeight(scratch, s);
                wEff.add(we);
                Tensor fq = Kernels.fakeQuantForward(scratch, we, params(s));
                MemorySegment.copy(fq.segment(), 0, effective.get(s.slot()).segment(), 0, fq.numel() * 4);
            }
            effectiveGrads.flat().segment().fill((byte) 0);
            float loss = trainer.forwardBackward(inputs, targets);
            for (int i = 0; i < sites.size(); i++) {
                Site s = sites.get(i);
                FakeQuantGrads g = Kernels.fakeQuantBackward(scratch, wEff.get(i), params(s), effectiveGrads.get(s.slot()));
                MemorySegment.copy(g.magnitude().segment(), 0, s.gmag().segment(), 0, s.gmag().numel() * 4);
                Tensor dba = g.weights(); // d loss / d w_eff, turned into d loss / d(BA) = that * s * lambda
                scaleByGroup(dba, s.scales(), s.group(), cfg.lambda());
                Kernels.matmul(dba, s.a().transpose(), s.gb(), 1f, 0f);
                Kernels.matmul(s.b().transpose(), dba, s.ga(), 1f, 0f);
            }
            loraOpt.update(loraGrads, cfg.lrLora() * schedule(stepIndex), 1f);
            magOpt.update(magGrads, cfg.lrMagnitude() * schedule(stepIndex), 1f);
            return loss;
        }
    }

    /** Runs all configured steps with a progress line; returns the last loss. */
    public float train(dev.lowbit.methods.TokenWindows data, java.io.PrintStream log) {
        int[] in = new int[cfg.batch() * cfg.seqLen()], out = new int[in.length];
        dev.lowbit.methods.Progress progress = new dev.lowbit.methods.Progress(log, "dl-qat", cfg.steps(), 0);
        float loss = Float.NaN;
        for (int s = 0; s < cfg.steps(); s++) {
            data.fill(s, in, out);
            loss = step(in, out, s);
            progress.step(s + 1, String.format("loss %.3f", loss), in.length);
        }
        progress.done();
        return loss;
    }

    /** Linear decay to zero over the run. */
    private float schedule(int step) {
        return 1f - (float) step / Math.max(1, cfg.steps());
    }

    /** w_eff = W + lambda * s (BA), per group: the LoRA update in integer steps. */
    private Tensor effectiveWeight(Arena arena, Site s) {
        Tensor we = Tensor.allocate(arena, DType.F32, s.w().shape());
        Kernels.matmul(s.b(), s.a(), we, 1f, 0f);
        scaleByGroup(we, s.scales(), s.group(), cfg.lambda());
        MemorySegment w = s.w().segment(), e = we.segment();
        for (long i = 0; i < we.numel(); i++)
            e.setAtIndex(ValueLayout.JAVA_FLOAT, i, w.getAtIndex(ValueLayout.JAVA_FLOAT, i) + e.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        return we;
    }

    /** t[r, j] *= factor * scales[r, j / group]. */
    private static void scaleByGroup(Tensor t, Tensor scales, int group, float factor) {
        long cols = t.dim(1), groups = cols / group;
        MemorySegment d = t.segment(), sc = scales.segment();
        for (long r = 0; r < t.dim(0); r++)
            for (long g = 0; g < groups; g++) {
                float f = factor * sc.getAtIndex(ValueLayout.JAVA_FLOAT, r * groups + g);
                for (long j = r * cols + g * group; j < r * cols + (g + 1) * group; j++)
                    d.setAtIndex(ValueLayout.JAVA_FLOAT, j, d.getAtIndex(ValueLayout.JAVA_FLOAT, j) * f);
            }
    }

    private FakeQuantParams params(Site s) {
        return new FakeQuantParams(s.scales(), s.zeros(), s.mag(), cfg.bits(), s.group());
    }

    /**
     * The trained model with real quantized weights: codes of w_eff under (s, z), scales m * s. Its
     * dequantized weights equal the fake-quantized training weights bit for bit.
     */
    public LlamaModel export(Arena arena) {
        List<QuantizedTensor> qs = new ArrayList<>();
        for (Site s : sites) {
            Tensor we;
            try (Arena scratch = Arena.ofConfined()) {
                Tensor tmp = effectiveWeight(scratch, s);
                we = Tensor.allocate(arena, DType.F32, tmp.shape());
                MemorySegment.copy(tmp.segment(), 0, we.segment(), 0, tmp.numel() * 4);
            }
            QuantizedTensor q = Kernels.quantizeWithParams(arena, we, s.scales(), s.zeros(), cfg.bits(), s.group());
            Tensor folded = Tensor.allocate(arena, DType.F32, s.scales().shape());
            for (long i = 0; i < folded.numel(); i++)
                folded.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, s.mag().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i)
                        * s.scales().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i));
            qs.add(QuantizedTensor.of(arena, q.codes(), folded, s.zeros(), q.cols(), cfg.bits(), s.group()));
        }
        int[] next = {0};
        return new LlamaModel(effective.weights(), (layer, name, w) -> new Linear.Quantized(qs.get(next[0]++)));
    }

    /** The current fake-quantized model in full precision (what training sees). */
    public LlamaModel fakeQuantized(Arena arena) {
        LlamaParameters p = LlamaParameters.copyOf(arena, effective.weights());
        try (Arena scratch = Arena.ofConfined()) {
            for (Site s : sites) {
                Tensor fq = Kernels.fakeQuantForward(scratch, effectiveWeight(scratch, s), params(s));
                MemorySegment.copy(fq.segment(), 0, p.get(s.slot()).segment(), 0, fq.numel() * 4);
            }
        }
        return new LlamaModel(p.weights());
    }

    private static Tensor view(Tensor flat, long offset, long rows, long cols) {
        return Tensor.wrap(flat.segment().asSlice(offset * 4, rows * cols * 4), DType.F32, rows, cols);
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }
}
