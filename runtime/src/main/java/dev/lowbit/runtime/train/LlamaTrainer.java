package dev.lowbit.runtime.train;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.NnKernels;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Training forward and backward of LLaMA on batches of B sequences of T tokens, written out per
 * module as in llm.c: embedding, a {@link BlockPass} per block, final norm and head; the forward
 * saves what each backward needs, the backward runs the modules in reverse and accumulates
 * parameter gradients into {@code grads} (same layout as the parameters). Buffers are allocated
 * once for the batch shape.
 */
public final class LlamaTrainer {
    private final LlamaConfig c;
    private final LlamaWeights w;
    private final LlamaWeights g;
    private final Set<Tensor> trainable;
    private final int n;
    private final Tensor tokens;
    private final Tensor targets;
    private final Tensor losses;
    private final Tensor logits;
    private final Tensor finalIn;
    private final Tensor finalNormed;
    private final Tensor finalInv;
    private final Tensor[] blockInputs; // blockInputs[l] is block l's input, saved for its backward
    private final BlockPass[] blocks;
    private final Tensor dx;
    private final Tensor dxb;
    private final BlockPass.Scratch scratch;

    /** Every parameter trainable. */
    public LlamaTrainer(Arena arena, LlamaParameters params, LlamaParameters grads, int batch, int seqLen) {
        this(arena, params, grads, batch, seqLen, name -> true);
    }

    /**
     * Only parameters whose name passes trainable get gradients (the others' stay untouched);
     * gradients still flow through frozen weights to everything before them.
     */
    public LlamaTrainer(
            Arena arena,
            LlamaParameters params,
            LlamaParameters grads,
            int batch,
            int seqLen,
            Predicate<String> trainable) {
        if (batch <= 0 || seqLen <= 0 || seqLen > params.config().maxSeqLen())
            throw new LowbitException("batch " + batch + " x " + seqLen + " tokens does not fit the context "
                    + params.config().maxSeqLen());
        this.c = params.config();
        this.trainable = new HashSet<>();
        for (LlamaParameters.Slot s : params.slots())
            if (trainable.test(s.name())) this.trainable.add(grads.get(s.name()));
        this.w = params.weights();
        this.g = grads.weights();
        this.n = batch * seqLen;
        int d = c.dim();
        tokens = Tensor.allocate(arena, DType.I32, n);
        targets = Tensor.allocate(arena, DType.I32, n);
        losses = Tensor.allocate(arena, DType.F32, n);
        logits = Tensor.allocate(arena, DType.F32, n, c.vocabSize());
        finalIn = f32(arena, n, d);
        finalNormed = f32(arena, n, d);
        finalInv = Tensor.allocate(arena, DType.F32, n);
        scratch = new BlockPass.Scratch(arena, c, n);
        blockInputs = new Tensor[c.layers()];
        blocks = new BlockPass[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer p = w.layers().get(l), gp = g.layers().get(l);
            Projections<Tensor> gs = gp.linears();
            Projections<TrainLinear> lin =
                    p.linears().map((name, w) -> new TrainLinear.Dense(w, gradOrNull(gs.get(name))));
            blockInputs[l] = f32(arena, n, d);
            blocks[l] = new BlockPass(
                    arena,
                    c,
                    batch,
                    seqLen,
                    p.attentionNorm(),
                    p.ffnNorm(),
                    gradOrNull(gp.attentionNorm()),
                    gradOrNull(gp.ffnNorm()),
                    lin,
                    16,
                    scratch);
        }
        dx = f32(arena, n, d);
        dxb = f32(arena, n, d);
    }

    private Tensor gradOrNull(Tensor grad) {
        return trainable.contains(grad) ? grad : null;
    }

    private static Tensor f32(Arena arena, long rows, long cols) {
        return Tensor.allocate(arena, DType.F32, rows, cols);
    }

    public int tokensPerBatch() {
        return n;
    }

    /** Mean next-token cross-entropy of the batch (inputs and targets [B*T]), saving activations. */
    public float forward(int[] inputs, int[] nextTokens) {
        if (inputs.length != n || nextTokens.length != n)
            throw new LowbitException(
                    "a batch is " + n + " inputs and targets, got " + inputs.length + " and " + nextTokens.length);
        for (int i = 0; i < n; i++) {
            checkToken(inputs[i], i);
            checkToken(nextTokens[i], i);
        }
        MemorySegment.copy(inputs, 0, tokens.segment(), ValueLayout.JAVA_INT, 0, n);
        MemorySegment.copy(nextTokens, 0, targets.segment(), ValueLayout.JAVA_INT, 0, n);
        Tensor x = blocks.length > 0 ? blockInputs[0] : finalIn;
        w.embed(inputs, x);
        for (int l = 0; l < blocks.length; l++)
            blocks[l].forward(blockInputs[l], l + 1 < blocks.length ? blockInputs[l + 1] : finalIn);
        NnKernels.rmsNorm(finalIn, w.finalNorm(), c.normEps(), finalNormed, finalInv);
        linear(finalNormed, w.output(), logits);
        NnKernels.crossEntropy(logits, targets, losses);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += losses.segment().getAtIndex(ValueLayout.JAVA_FLOAT, i);
        return (float) (sum / n);
    }

    /** Forward, then the backward of the mean loss, accumulating into the gradients. Returns the loss. */
    public float forwardBackward(int[] inputs, int[] nextTokens) {
        return forwardBackward(inputs, nextTokens, 1f);
    }

    /**
     * As {@link #forwardBackward(int[], int[])} for lossScale times the mean loss: with gradient
     * accumulation over k batches, lossScale = 1/k makes the sum of the k gradients the gradient
     * of the mean over all of them.
     */
    public float forwardBackward(int[] inputs, int[] nextTokens, float lossScale) {
        float loss = forward(inputs, nextTokens);
        NnKernels.crossEntropyBackward(logits, targets, lossScale / n, logits); // logits now hold dlogits
        backward(inputs);
        return loss;
    }

    /** The logits [B*T, vocab] of the last forward; a backward overwrites them. */
    public Tensor logits() {
        return logits;
    }

    /**
     * Knowledge distillation: forward, then the backward of the mean cross-entropy plus klWeight
     * times the mean KL(teacher || model) per token, given the teacher's log-probabilities
     * [B*T, vocab] on the same batch. Returns {cross-entropy, KL}.
     */
    public float[] forwardBackwardDistilled(int[] inputs, int[] nextTokens, Tensor teacherLogProbs, float klWeight) {
        if (teacherLogProbs.dtype() != DType.F32 || !Arrays.equals(teacherLogProbs.shape(), logits.shape()))
            throw new LowbitException("teacher log-probabilities must be f32 " + Arrays.toString(logits.shape())
                    + ", got " + teacherLogProbs.dtype() + " " + Arrays.toString(teacherLogProbs.shape()));
        float loss = forward(inputs, nextTokens);
        NnKernels.logSoftmax(logits, logits);
        MemorySegment ls = logits.segment(), lt = teacherLogProbs.segment();
        int vocab = c.vocabSize();
        double kl = 0;
        float scale = 1f / n;
        for (int i = 0; i < n; i++) {
            long row = (long) i * vocab;
            for (int j = 0; j < vocab; j++) {
                float s = ls.getAtIndex(ValueLayout.JAVA_FLOAT, row + j),
                        t = lt.getAtIndex(ValueLayout.JAVA_FLOAT, row + j);
                float ps = (float) Math.exp(s), pt = (float) Math.exp(t);
                kl += pt * (t - s);
                // d/dlogits of CE is p - onehot, of KL(teacher || model) is p - p_teacher
                float d = ps - (j == nextTokens[i] ? 1f : 0f) + klWeight * (ps - pt);
                ls.setAtIndex(ValueLayout.JAVA_FLOAT, row + j, d * scale);
            }
        }
        backward(inputs);
        return new float[] {loss, (float) (kl / n)};
    }

    /** Backward from the dlogits held in logits, accumulating into the trainable gradients. */
    private void backward(int[] inputs) {
        if (trainable.contains(g.output())) Kernels.matmul(logits.transpose(), finalNormed, g.output(), 1f, 1f);
        Kernels.matmul(logits, w.output(), dxb, 1f, 0f);
        NnKernels.rmsNormBackward(
                finalIn, w.finalNorm(), finalInv, dxb, dx, scratch.normGrad(gradOrNull(g.finalNorm())));
        for (int l = blocks.length - 1; l >= 0; l--) blocks[l].backward(dx);
        if (!trainable.contains(g.tokenEmbedding())) return;
        long row = (long) c.dim() * 4;
        MemorySegment ge = g.tokenEmbedding().segment();
        for (int i = 0; i < n; i++) {
            int t = inputs[i];
            for (int j = 0; j < c.dim(); j++) {
                long at = t * row + 4L * j;
                ge.set(
                        ValueLayout.JAVA_FLOAT,
                        at,
                        ge.get(ValueLayout.JAVA_FLOAT, at)
                                + dx.segment().getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c.dim() + j));
            }
        }
    }

    private void checkToken(int t, int i) {
        if (t < 0 || t >= c.vocabSize())
            throw new LowbitException(
                    "token id " + t + " at " + i + " is outside the vocabulary [0, " + c.vocabSize() + ")");
    }

    private static void linear(Tensor in, Tensor weight, Tensor out) {
        Kernels.matmul(in, weight.transpose(), out, 1f, 0f);
    }
}
