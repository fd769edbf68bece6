package dev.lowbit.methods.quant.dlqat;

import dev.lowbit.methods.Progress;
import dev.lowbit.methods.TokenWindows;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.io.SafetensorsWriter;
import dev.lowbit.runtime.kernels.FakeQuantGrads;
import dev.lowbit.runtime.kernels.FakeQuantParams;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.AdamW;
import dev.lowbit.runtime.train.LlamaParameters;
import dev.lowbit.runtime.train.LlamaTrainer;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
    private record Site(
            String slot,
            Tensor w,
            Tensor scales,
            Tensor zeros,
            Tensor a,
            Tensor b,
            Tensor mag,
            Tensor ga,
            Tensor gb,
            Tensor gmag,
            int group) {}

    /**
     * A starting grid for one linear in place of min-max RTN: the weights to round (e.g. GPTQ's
     * error-compensated ones) and the frozen scales and zeros [out, in / group].
     */
    public record Start(Tensor weight, Tensor scales, Tensor zeros) {}

    private final DlQatConfig cfg;
    private final String signature; // the settings a checkpoint must have been written with
    private final LlamaParameters effective;
    private final LlamaParameters effectiveGrads;
    private final List<Site> sites = new ArrayList<>();
    private final Tensor lora;
    private final Tensor loraGrads;
    private final Tensor mags;
    private final Tensor magGrads;
    private final Tensor loraM, loraV, magM, magV;
    private final AdamW loraOpt;
    private final AdamW magOpt;
    private final LlamaTrainer trainer;
    private final LlamaTrainer teacher; // the full-precision model, for the KL term; null without one
    private final Tensor teacherLogProbs;
    private final long trainable;
    private final long total;
    private float lastKl = Float.NaN;

    public DlQat(Arena arena, LlamaParameters fp, DlQatConfig cfg) {
        this(arena, fp, cfg, "rtn", Map.of());
    }

    /**
     * As {@link #DlQat(Arena, LlamaParameters, DlQatConfig)}, each linear whose weight name start
     * holds beginning from that grid (initName, e.g. "gptq", is part of the checkpoint's settings).
     */
    public DlQat(Arena arena, LlamaParameters fp, DlQatConfig cfg, String initName, Map<String, Start> start) {
        this(arena, fp, fp, cfg, initName, start);
    }

    /**
     * As {@link #DlQat(Arena, LlamaParameters, DlQatConfig, String, Map)} on base weights that
     * differ from the model the KL term distills from (AWQ's: scaled, which leaves the function
     * as it was, and clipped, which does not), so the teacher stays the original fp model.
     */
    public DlQat(
            Arena arena,
            LlamaParameters fp,
            LlamaParameters teacherFp,
            DlQatConfig cfg,
            String initName,
            Map<String, Start> start) {
        this.cfg = cfg;
        this.signature = initName.equals("rtn") ? cfg.toString() : cfg + " from " + initName;
        this.effective = LlamaParameters.copyOf(arena, fp.weights());
        this.effectiveGrads = LlamaParameters.zeros(arena, fp.config());
        QuantSpec spec = QuantSpec.of(cfg.bits(), cfg.group());
        List<LlamaParameters.Slot> linearSlots =
                fp.slots().stream().filter(s -> isLinear(s.name())).toList();
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
            Start init = start.get(s.name());
            if (init == null) {
                QuantizedTensor rtn = Kernels.quantize(arena, fp.get(s.name()), spec);
                init = new Start(fp.get(s.name()), rtn.scales(), rtn.zeros());
            } else if (init.scales().dim(1) != in / g || init.weight().dim(1) != in)
                throw new LowbitException("the starting grid of " + s.name() + " does not match group " + g);
            Tensor a = lora.slice(lo, cfg.rank(), in), b = lora.slice(lo + cfg.rank() * in, out, cfg.rank());
            Tensor ga = loraGrads.slice(lo, cfg.rank(), in),
                    gb = loraGrads.slice(lo + cfg.rank() * in, out, cfg.rank());
            loraSlots.add(
                    new LlamaParameters.Slot(s.name() + ".lora", lo, new long[] {cfg.rank() * (out + in)}, false));
            double std = 1 / Math.sqrt(in);
            for (long i = 0; i < a.numel(); i++)
                a.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (gaussian(rnd) * std));
            Tensor mag = mags.slice(mo, out, in / g), gm = magGrads.slice(mo, out, in / g);
            for (long i = 0; i < mag.numel(); i++) mag.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f);
            magSlots.add(new LlamaParameters.Slot(s.name() + ".magnitude", mo, new long[] {out * (in / g)}, false));
            sites.add(new Site(s.name(), init.weight(), init.scales(), init.zeros(), a, b, mag, ga, gb, gm, g));
            lo += cfg.rank() * (out + in);
            mo += out * (in / g);
        }
        loraM = Tensor.allocate(arena, DType.F32, loraSize);
        loraV = Tensor.allocate(arena, DType.F32, loraSize);
        magM = Tensor.allocate(arena, DType.F32, magSize);
        magV = Tensor.allocate(arena, DType.F32, magSize);
        loraOpt = new AdamW(lora, loraSlots, loraM, loraV, 0.9f, 0.999f, 1e-8f, 0f);
        magOpt = new AdamW(mags, magSlots, magM, magV, 0.9f, 0.999f, 1e-8f, 0f);
        trainer = new LlamaTrainer(arena, effective, effectiveGrads, cfg.batch(), cfg.seqLen(), DlQat::isLinear);
        if (cfg.klWeight() > 0) {
            teacher = new LlamaTrainer(
                    arena,
                    teacherFp,
                    LlamaParameters.zeros(arena, fp.config()),
                    cfg.batch(),
                    cfg.seqLen(),
                    name -> false);
            teacherLogProbs = Tensor.allocate(
                    arena,
                    DType.F32,
                    (long) cfg.batch() * cfg.seqLen(),
                    fp.config().vocabSize());
        } else {
            teacher = null;
            teacherLogProbs = null;
        }
        trainable = loraSize + magSize;
        total = fp.config().parameterCount();
    }

    static boolean isLinear(String name) {
        return Projection.ofWeightName(name) != null;
    }

    /** Share of the model's parameters that train (LoRA factors and magnitudes). */
    public double trainableFraction() {
        return (double) trainable / total;
    }

    /**
     * One optimizer step on a batch; returns the training objective: the next-token loss, plus
     * klWeight times the KL to the full-precision model when that term is on.
     */
    public float step(int[] inputs, int[] targets, int stepIndex) {
        try (Arena scratch = Arena.ofConfined()) {
            List<Tensor> wEff = new ArrayList<>();
            for (Site s : sites) {
                Tensor we = effectiveWeight(scratch, s.w(), s.a(), s.b(), s.scales(), s.group(), cfg.lambda());
                wEff.add(we);
                Tensor fq = Kernels.fakeQuantForward(scratch, we, params(s));
                effective.get(s.slot()).copyFrom(fq);
            }
            effectiveGrads.flat().segment().fill((byte) 0);
            float loss;
            if (teacher != null) {
                teacher.forward(inputs, targets);
                NnKernels.logSoftmax(teacher.logits(), teacherLogProbs);
                float[] ceKl = trainer.forwardBackwardDistilled(inputs, targets, teacherLogProbs, cfg.klWeight());
                lastKl = ceKl[1];
                loss = ceKl[0] + cfg.klWeight() * ceKl[1];
            } else {
                loss = trainer.forwardBackward(inputs, targets);
            }
            if (!Float.isFinite(loss))
                throw new LowbitException(
                        "DL-QAT loss became " + loss + " at step " + stepIndex + "; lower the learning rate");
            for (int i = 0; i < sites.size(); i++) {
                Site s = sites.get(i);
                FakeQuantGrads g =
                        Kernels.fakeQuantBackward(scratch, wEff.get(i), params(s), effectiveGrads.get(s.slot()));
                s.gmag().copyFrom(g.magnitude());
                loraBackward(g.weights(), s.scales(), s.group(), cfg.lambda(), s.a(), s.b(), s.ga(), s.gb());
            }
            loraOpt.update(loraGrads, cfg.lrLora() * schedule(stepIndex), 1f);
            magOpt.update(magGrads, cfg.lrMagnitude() * schedule(stepIndex), 1f);
            return loss;
        }
    }

    /**
     * Runs the configured steps from the checkpoint in checkpointFile when there is one (written
     * by an interrupted run with the same settings), writing one every checkpointEvery steps and
     * at stopAfter. Returns whether all steps ran (false: stopped at stopAfter, resumable).
     */
    public boolean train(TokenWindows data, PrintStream log, Path checkpointFile, int stopAfter) {
        int start = Files.isRegularFile(checkpointFile) ? resume(checkpointFile) : 0;
        if (start > 0) log.printf("resuming DL-QAT from %s at step %d%n", checkpointFile, start);
        int[] in = new int[cfg.batch() * cfg.seqLen()], out = new int[in.length];
        Progress progress = new Progress(log, "dl-qat", cfg.steps(), start);
        for (int s = start; s < cfg.steps(); s++) {
            data.fill(s, in, out);
            float loss = step(in, out, s);
            progress.step(
                    s + 1,
                    teacher == null
                            ? String.format("loss %.3f", loss)
                            : String.format("loss %.3f | KL %.4f", loss, lastKl),
                    in.length);
            boolean stopping = s + 1 == stopAfter && s + 1 < cfg.steps();
            if (stopping || ((s + 1) % cfg.checkpointEvery() == 0 && s + 1 < cfg.steps()))
                saveCheckpoint(checkpointFile, s + 1);
            if (stopping) {
                progress.done();
                log.printf("stopped after step %d; run again with the same arguments to resume%n", s + 1);
                return false;
            }
        }
        progress.done();
        return true;
    }

    private void saveCheckpoint(Path file, int step) {
        new SafetensorsWriter()
                .metadata("step", Integer.toString(step))
                .metadata("config", signature)
                .put("lora", lora)
                .put("magnitude", mags)
                .put("lora.adam_m", loraM)
                .put("lora.adam_v", loraV)
                .put("magnitude.adam_m", magM)
                .put("magnitude.adam_v", magV)
                .write(file);
    }

    private int resume(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            if (!signature.equals(f.metadata().get("config")))
                throw new LowbitException(file + " was written by a DL-QAT run with other settings ("
                        + f.metadata().get("config") + "); delete it to start over, or use another output folder");
            Map<String, Tensor> state = Map.of(
                    "lora",
                    lora,
                    "magnitude",
                    mags,
                    "lora.adam_m",
                    loraM,
                    "lora.adam_v",
                    loraV,
                    "magnitude.adam_m",
                    magM,
                    "magnitude.adam_v",
                    magV);
            for (var e : state.entrySet())
                if (!f.copyInto(e.getKey(), e.getValue()))
                    throw new LowbitException(
                            file + ": " + e.getKey() + " does not fit this model; delete the file to start over");
            int step = Integer.parseInt(f.metadata().getOrDefault("step", "-1"));
            if (step < 1 || step >= cfg.steps())
                throw new LowbitException(file + ": bad step " + step + "; delete it to start over");
            loraOpt.setStep(step);
            magOpt.setStep(step);
            return step;
        } catch (NumberFormatException e) {
            throw new LowbitException(file + ": bad step; delete it to start over");
        }
    }

    /** Linear decay to zero over the run. */
    private float schedule(int step) {
        return 1f - (float) step / Math.max(1, cfg.steps());
    }

    /** w_eff = W + lambda * s (BA), per group: the LoRA update in integer steps. */
    static Tensor effectiveWeight(Arena arena, Tensor w, Tensor a, Tensor b, Tensor scales, int group, float lambda) {
        Tensor we = Tensor.allocate(arena, DType.F32, w.shape());
        Kernels.matmul(b, a, we, 1f, 0f);
        scaleByGroup(we, scales, group, lambda);
        NnKernels.addInto(w, we);
        return we;
    }

    /**
     * d loss / dA and d loss / dB (overwritten) from d loss / d w_eff: d(BA) = d w_eff * lambda * s
     * (dWeff is scaled in place), then dB = d(BA) A^T and dA = B^T d(BA).
     */
    static void loraBackward(
            Tensor dWeff, Tensor scales, int group, float lambda, Tensor a, Tensor b, Tensor ga, Tensor gb) {
        scaleByGroup(dWeff, scales, group, lambda);
        Kernels.matmul(dWeff, a.transpose(), gb, 1f, 0f);
        Kernels.matmul(b.transpose(), dWeff, ga, 1f, 0f);
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
        Map<String, QuantizedTensor> qs = new HashMap<>(); // by weight name
        for (Site s : sites) {
            Tensor we;
            try (Arena scratch = Arena.ofConfined()) {
                Tensor tmp = effectiveWeight(scratch, s.w(), s.a(), s.b(), s.scales(), s.group(), cfg.lambda());
                we = Tensor.allocate(arena, DType.F32, tmp.shape());
                we.copyFrom(tmp);
            }
            QuantizedTensor q = Kernels.quantizeWithParams(arena, we, s.scales(), s.zeros(), cfg.bits(), s.group());
            Tensor folded = Tensor.allocate(arena, DType.F32, s.scales().shape());
            for (long i = 0; i < folded.numel(); i++)
                folded.segment()
                        .setAtIndex(
                                ValueLayout.JAVA_FLOAT,
                                i,
                                s.mag().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i)
                                        * s.scales().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i));
            qs.put(s.slot(), QuantizedTensor.of(arena, q.codes(), folded, s.zeros(), q.cols(), cfg.bits(), s.group()));
        }
        return new LlamaModel(effective.weights(), (layer, p, w) -> new Linear.Quantized(qs.get(p.weightName(layer))));
    }

    /** The current fake-quantized model in full precision (what training sees). */
    public LlamaModel fakeQuantized(Arena arena) {
        LlamaParameters p = LlamaParameters.copyOf(arena, effective.weights());
        try (Arena scratch = Arena.ofConfined()) {
            for (Site s : sites) {
                Tensor we = effectiveWeight(scratch, s.w(), s.a(), s.b(), s.scales(), s.group(), cfg.lambda());
                Tensor fq = Kernels.fakeQuantForward(scratch, we, params(s));
                p.get(s.slot()).copyFrom(fq);
            }
        }
        return new LlamaModel(p.weights());
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }
}
