package dev.lowbit.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.ref.FiniteDifference;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

/** The full training backward against finite differences of the training forward, and against the inference model. */
class LlamaTrainerTest {
    static final LlamaConfig TINY = new LlamaConfig(16, 24, 2, 4, 2, 13, 8, 1e-5f, 10000f, false);

    static int[][] batch(Random rnd, int b, int t, int vocab) {
        int[] in = new int[b * t], out = new int[b * t];
        for (int i = 0; i < b * t; i++) {
            in[i] = rnd.nextInt(vocab);
            out[i] = rnd.nextInt(vocab);
        }
        return new int[][] {in, out};
    }

    @Test
    void lossMatchesTheInferenceModel() {
        Random rnd = new Random(1);
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, TINY, 3);
            int b = 2, t = 6;
            int[][] data = batch(rnd, b, t, TINY.vocabSize());
            float loss = new LlamaTrainer(arena, p, LlamaParameters.zeros(arena, TINY), b, t).forward(data[0], data[1]);
            LlamaModel model = new LlamaModel(p.weights());
            double sum = 0;
            for (int s = 0; s < b; s++) {
                int[] seq = Arrays.copyOfRange(data[0], s * t, s * t + t);
                float[] logits =
                        model.forward(arena, seq, model.newCache(arena)).toFloatArray();
                for (int i = 0; i < t; i++) {
                    double[] row = new double[TINY.vocabSize()];
                    for (int j = 0; j < row.length; j++) row[j] = logits[i * row.length + j];
                    sum -= LlamaRef.logSoftmax(row)[data[1][s * t + i]];
                }
            }
            assertEquals(sum / (b * t), loss, 1e-5);
        }
    }

    /** For every parameter tensor, the elements with the largest gradients match central differences. */
    @Test
    void gradientsOfEveryParameterMatchFiniteDifferences() {
        Random rnd = new Random(2);
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, TINY, 4);
            // larger weights than the initialisation, so every path carries a measurable gradient
            for (long i = 0; i < p.flat().numel(); i++) {
                float v = p.flat().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i);
                p.flat()
                        .segment()
                        .setAtIndex(
                                ValueLayout.JAVA_FLOAT, i, v == 1f ? 1f + 0.2f * (float) rnd.nextGaussian() : v * 15f);
            }
            LlamaParameters grads = LlamaParameters.zeros(arena, TINY);
            int b = 2, t = 5;
            int[][] data = batch(rnd, b, t, TINY.vocabSize());
            LlamaTrainer trainer = new LlamaTrainer(arena, p, grads, b, t);
            trainer.forwardBackward(data[0], data[1]);
            checkTopGradients(p, grads, 3, () -> trainer.forward(data[0], data[1]));
        }
    }

    /**
     * The distillation objective, cross-entropy + lambda KL(teacher || model), against a
     * plain-Java KL of the forward's logits: its value and its gradients.
     */
    @Test
    void distillationMatchesAReferenceKlAndItsFiniteDifferences() {
        Random rnd = new Random(9);
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, TINY, 5);
            for (long i = 0; i < p.flat().numel(); i++) {
                float v = p.flat().segment().getAtIndex(ValueLayout.JAVA_FLOAT, i);
                p.flat().segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, v == 1f ? 1f : v * 10f);
            }
            LlamaParameters grads = LlamaParameters.zeros(arena, TINY);
            int b = 2, t = 5, n = b * t, vocab = TINY.vocabSize();
            int[][] data = batch(rnd, b, t, vocab);
            double[][] teacher = new double[n][];
            Tensor teacherLogProbs = Tensor.allocate(arena, DType.F32, n, vocab);
            for (int i = 0; i < n; i++) {
                double[] row = new double[vocab];
                for (int j = 0; j < vocab; j++) row[j] = 2 * rnd.nextGaussian();
                teacher[i] = LlamaRef.logSoftmax(row);
                for (int j = 0; j < vocab; j++) teacherLogProbs.setFloat((float) teacher[i][j], i, j);
            }
            float lambda = 0.7f;
            LlamaTrainer trainer = new LlamaTrainer(arena, p, grads, b, t);
            DoubleSupplier objective = () -> {
                double ce = trainer.forward(data[0], data[1]);
                float[] logits = trainer.logits().toFloatArray();
                double kl = 0;
                for (int i = 0; i < n; i++) {
                    double[] row = new double[vocab];
                    for (int j = 0; j < vocab; j++) row[j] = logits[i * vocab + j];
                    double[] ls = LlamaRef.logSoftmax(row);
                    for (int j = 0; j < vocab; j++) kl += Math.exp(teacher[i][j]) * (teacher[i][j] - ls[j]) / n;
                }
                return ce + lambda * kl;
            };
            double expected = objective.getAsDouble();
            float[] ceKl = trainer.forwardBackwardDistilled(data[0], data[1], teacherLogProbs, lambda);
            assertEquals(expected, ceKl[0] + lambda * ceKl[1], 1e-4 * expected);
            assertTrue(ceKl[1] > 0.1, "the random teacher is far from the model: KL " + ceKl[1]);
            checkTopGradients(p, grads, 1, objective);
        }
    }

    /** For every parameter tensor, its picks largest gradients match central differences of the objective. */
    private static void checkTopGradients(
            LlamaParameters p, LlamaParameters grads, int picks, DoubleSupplier objective) {
        double h = 1e-2;
        for (LlamaParameters.Slot slot : p.slots()) {
            Tensor param = p.get(slot.name()), grad = grads.get(slot.name());
            float[] gv = grad.toFloatArray();
            for (int pick = 0; pick < picks; pick++) {
                int best = 0;
                for (int i = 1; i < gv.length; i++) if (Math.abs(gv[i]) > Math.abs(gv[best])) best = i;
                double fd = FiniteDifference.central(param, best, h, objective);
                assertTrue(Math.abs(gv[best]) > 1e-4, slot.name() + " has no gradient to check");
                assertEquals(fd, gv[best], 0.05 * Math.abs(fd) + 1e-4, slot.name() + "[" + best + "]");
                gv[best] = 0; // next pick: the next largest
            }
        }
    }

    /** Frozen weights get no gradient, yet the gradients of the trainable ones are unchanged. */
    @Test
    void frozenWeightsGetNoGradientButPassItOn() {
        Random rnd = new Random(6);
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, TINY, 8);
            LlamaParameters all = LlamaParameters.zeros(arena, TINY), normsOnly = LlamaParameters.zeros(arena, TINY);
            int[][] data = batch(rnd, 2, 6, TINY.vocabSize());
            new LlamaTrainer(arena, p, all, 2, 6).forwardBackward(data[0], data[1]);
            // accumulation: two half-weighted passes make one full gradient
            LlamaTrainer frozen = new LlamaTrainer(arena, p, normsOnly, 2, 6, name -> name.endsWith("norm.weight"));
            frozen.forwardBackward(data[0], data[1], 0.5f);
            frozen.forwardBackward(data[0], data[1], 0.5f);
            for (LlamaParameters.Slot slot : p.slots()) {
                float[] got = normsOnly.get(slot.name()).toFloatArray(),
                        full = all.get(slot.name()).toFloatArray();
                for (int i = 0; i < got.length; i++) {
                    if (slot.name().endsWith("norm.weight"))
                        assertEquals(full[i], got[i], 1e-5 * Math.max(1, Math.abs(full[i])), slot.name());
                    else assertEquals(0f, got[i], slot.name() + " is frozen");
                }
            }
        }
    }

    @Test
    void adamWLowersTheLossOnARepeatedBatch() {
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, TINY, 5), grads = LlamaParameters.zeros(arena, TINY);
            AdamW opt = new AdamW(
                    p,
                    LlamaParameters.zeros(arena, TINY),
                    LlamaParameters.zeros(arena, TINY),
                    0.9f,
                    0.95f,
                    1e-8f,
                    0.1f);
            LlamaTrainer trainer = new LlamaTrainer(arena, p, grads, 2, 8);
            int[][] data = batch(rnd, 2, 8, TINY.vocabSize());
            float first = 0, last = 0;
            for (int step = 0; step < 60; step++) {
                grads.flat().segment().fill((byte) 0);
                last = trainer.forwardBackward(data[0], data[1]);
                if (step == 0) first = last;
                opt.update(grads, 1e-2f, 1f);
            }
            assertTrue(last < first * 0.5, "memorising one batch: loss " + first + " -> " + last);
        }
    }
}
