package dev.lowbit.methods.quant.qllm;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.AdamW;
import dev.lowbit.runtime.train.BlockPass;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * QLLM's low-rank error correction of one round of blocks: the round's quantized blocks (with
 * their LoRA factors) run on the quantized model's inputs, and AdamW with linearly decaying
 * learning rate lowers the mean squared error to the full-precision round's outputs.
 */
final class ErrorCorrection {
    private final BlockPass[] blocks;
    private final Qllm.RoundParameters params;
    private final QllmConfig cfg;
    private final PrintStream progress;
    private final Tensor[] acts;
    private final Tensor target;

    /** width: the model dimension, the rows' length between blocks. */
    ErrorCorrection(
            Arena arena,
            BlockPass[] blocks,
            long width,
            Qllm.RoundParameters params,
            QllmConfig cfg,
            PrintStream progress) {
        this.blocks = blocks;
        this.params = params;
        this.cfg = cfg;
        this.progress = progress;
        long rows = (long) cfg.batch() * cfg.seqLen();
        acts = new Tensor[blocks.length + 1];
        for (int i = 0; i < acts.length; i++) acts[i] = Tensor.allocate(arena, DType.F32, rows, width);
        target = Tensor.allocate(arena, DType.F32, rows, width);
    }

    /** Trains on inputs and targets [samples * seqLen, dim] for blocks first..last - 1 (for the progress lines). */
    void train(Tensor inputs, Tensor targets, int first, int last) {
        double mseBefore, mseAfter;
        try (Arena arena = Arena.ofConfined()) {
            AdamW opt = params.optimizer(arena);
            mseBefore = mse(inputs, targets);
            SplittableRandom rnd = new SplittableRandom(cfg.seed() + first);
            int batches = cfg.samples() / cfg.batch();
            long rows = (long) cfg.batch() * cfg.seqLen();
            double running = 0;
            int[] order = null;
            for (int step = 0; step < cfg.steps(); step++) {
                int b = step % batches;
                if (b == 0) order = shuffled(rnd, cfg.samples()); // a new epoch
                for (int i = 0; i < cfg.batch(); i++) {
                    long from = (long) order[b * cfg.batch() + i] * cfg.seqLen(), to = (long) i * cfg.seqLen();
                    copyRows(inputs, from, acts[0], to, cfg.seqLen());
                    copyRows(targets, from, target, to, cfg.seqLen());
                }
                params.grads.segment().fill((byte) 0);
                for (int i = 0; i < blocks.length; i++) blocks[i].forward(acts[i], acts[i + 1]);
                Tensor out = acts[blocks.length];
                double loss = residual(out, target, 2.0 / (rows * out.dim(1))); // out now holds d loss / d out
                for (int i = blocks.length - 1; i >= 0; i--) blocks[i].backward(out); // in place: d out -> d in
                opt.update(params.grads, cfg.lr() * (1f - (float) step / cfg.steps()), 0f);
                running = step == 0 ? loss : 0.9 * running + 0.1 * loss;
                if ((step + 1) % Math.max(1, cfg.steps() / 5) == 0 || step + 1 == cfg.steps())
                    progress.printf(
                            "  error correction, blocks %d-%d: step %d/%d, mse %.5g%n",
                            first, last - 1, step + 1, cfg.steps(), running);
            }
            mseAfter = mse(inputs, targets);
        }
        progress.printf(
                "  error correction, blocks %d-%d: calibration mse %.5g -> %.5g%n",
                first, last - 1, mseBefore, mseAfter);
    }

    /** Mean squared error of the round's output over all calibration sequences (forward only). */
    private double mse(Tensor inputs, Tensor targets) {
        long rows = acts[0].dim(0);
        double sum = 0;
        for (long r = 0; r < inputs.dim(0); r += rows) {
            copyRows(inputs, r, acts[0], 0, rows);
            copyRows(targets, r, target, 0, rows);
            for (int i = 0; i < blocks.length; i++) blocks[i].forward(acts[i], acts[i + 1]);
            sum += SiteSearch.squaredDistance(acts[blocks.length], target);
        }
        return sum / targets.numel();
    }

    /** Mean squared error of out against target; out becomes scale * (out - target). */
    private static double residual(Tensor out, Tensor target, double scale) {
        MemorySegment o = out.segment(), t = target.segment();
        double sum = 0;
        for (long i = 0; i < out.numel(); i++) {
            float d = o.getAtIndex(ValueLayout.JAVA_FLOAT, i) - t.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            sum += (double) d * d;
            o.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (scale * d));
        }
        return sum / out.numel();
    }

    private static int[] shuffled(SplittableRandom rnd, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }

    private static void copyRows(Tensor from, long fromRow, Tensor to, long toRow, long rows) {
        to.rows(toRow, rows).copyFrom(from.rows(fromRow, rows));
    }
}
