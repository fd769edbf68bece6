package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.tensor.Device;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The batched forward of continuous batching: each sequence's logits are the double-precision
 * reference's at its own positions, and what the sequence gets run alone whatever else shares the
 * batch and however its prompt is chunked: to within {@link BatchRowsTest#BOUND} of the largest
 * logit with an fp32 cache (fp32 and dequant-GEMM rows depend on M in their last bits, see there);
 * a half or int8 cache can round such a key or value to the neighbouring step, so the bound there
 * is that of its precision.
 */
class BatchedForwardTest {
    private static final LlamaConfig SMALL = DecodeStateTest.SMALL; // context 16, vocab 11
    private static final int[][] SEQUENCES = {
        {3, 10, 0, 7, 7, 2, 9, 1, 4, 5}, {6, 2, 8, 1, 0, 3, 3, 9, 2, 2}, {1, 9, 9, 4, 0, 5, 7, 6, 8, 10}
    };
    private static final int[] PROMPTS = {5, 2, 7};

    @Test
    void eachSequenceGetsTheReferenceLogitsAtItsPositions() {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, SMALL, 5, TestModels.Kind.FP32);
            KvBlockPool pool = pool(arena, model, KvDtype.F32);
            List<float[][]> got = run(model, pool, model.newBatchState(arena, 16, 3), new int[] {0, 1, 2}, 16);
            for (int s = 0; s < SEQUENCES.length; s++) {
                double[][] ref = LlamaRef.forward(model.weights(), SEQUENCES[s]);
                for (int p = PROMPTS[s] - 1; p < SEQUENCES[s].length; p++)
                    for (int j = 0; j < SMALL.vocabSize(); j++)
                        assertEquals(
                                ref[p][j], got.get(s)[p][j], 1e-4, "sequence " + s + " logit [" + p + ", " + j + "]");
            }
            assertEquals(pool.totalBlocks(), pool.freeBlocks(), "every block back in the pool");
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = TestModels.Kind.class,
            names = {"FP32", "W4", "W4A8", "REASSEMBLED_W4A8"})
    void aSequenceGetsTheSameLogitsAloneOrBatched(TestModels.Kind kind) {
        for (KvDtype dtype : KvDtype.values())
            try (Arena arena = Arena.ofConfined()) {
                LlamaModel model = TestModels.random(arena, SMALL, 9, kind);
                KvBlockPool pool = pool(arena, model, dtype);
                BatchState state = model.newBatchState(arena, 16, 3);
                List<float[][]> together = run(model, pool, state, new int[] {0, 1, 2}, 16);
                List<float[][]> chunked =
                        run(model, pool, state, new int[] {2, 0, 1}, 3); // prompts in pieces of 3 rows
                for (int s = 0; s < SEQUENCES.length; s++) {
                    float[][] alone = run(model, pool, state, new int[] {s}, 16).get(0);
                    for (int p = PROMPTS[s] - 1; p < SEQUENCES[s].length; p++) {
                        assertClose(
                                alone[p],
                                together.get(s)[p],
                                bound(dtype),
                                kind + " " + dtype + " sequence " + s + " at " + p);
                        assertClose(
                                alone[p],
                                chunked.get(s == 2 ? 0 : s + 1)[p],
                                bound(dtype),
                                kind + " " + dtype + " chunked " + s);
                    }
                }
            }
    }

    @Test
    void badBatchesAreRefusedBeforeAnythingRuns() {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = TestModels.random(arena, SMALL, 5, TestModels.Kind.FP32);
            KvBlockPool pool = pool(arena, model, KvDtype.F16);
            BatchState state = model.newBatchState(arena, 4, 2);
            PagedKvCache a = pool.allocate(8), b = pool.allocate(8);
            assertThrows(LowbitException.class, () -> model.forward(state, List.of()));
            assertThrows(
                    LowbitException.class,
                    () -> model.forward(state, List.of(new LlamaModel.Chunk(a, new int[] {1, 2, 3, 4, 5}))));
            assertThrows(
                    LowbitException.class,
                    () -> model.forward(
                            state,
                            List.of(new LlamaModel.Chunk(a, new int[] {1}), new LlamaModel.Chunk(a, new int[] {2}))));
            assertThrows(
                    LowbitException.class,
                    () -> model.forward(state, List.of(new LlamaModel.Chunk(b, new int[] {11}))));
            b.free();
            assertThrows(
                    LowbitException.class, () -> model.forward(state, List.of(new LlamaModel.Chunk(b, new int[] {1}))));
            assertEquals(0, a.length(), "nothing ran");
        }
    }

    /** Relative to the largest logit: the fp32 kernels' bound, or one step of the stored precision (2^-11, 2^-8, 1/127) over a few. */
    private static double bound(KvDtype dtype) {
        return switch (dtype) {
            case F32 -> BatchRowsTest.BOUND;
            case F16 -> 1e-3;
            case BF16 -> 1e-2;
            case INT8 -> 3e-2;
        };
    }

    private static void assertClose(float[] want, float[] got, double bound, String what) {
        double scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int j = 0; j < want.length; j++) assertEquals(want[j], got[j], bound * scale, what + " logit " + j);
    }

    private static KvBlockPool pool(Arena arena, LlamaModel model, KvDtype dtype) {
        return new KvBlockPool(
                arena, model.config(), Device.CPU, dtype, 6 * KvBlockPool.bytesPerBlock(model.config(), dtype));
    }

    /**
     * Runs the sequences (indices into SEQUENCES) together, prompts in chunks of up to chunk rows, then one
     * token a step; returns each sequence's logits at each position whose next token it predicts.
     */
    private static List<float[][]> run(LlamaModel model, KvBlockPool pool, BatchState state, int[] which, int chunk) {
        int vocab = SMALL.vocabSize();
        List<PagedKvCache> caches = new ArrayList<>();
        List<float[][]> out = new ArrayList<>();
        for (int s : which) {
            caches.add(pool.allocate(SEQUENCES[s].length));
            out.add(new float[SEQUENCES[s].length][]);
        }
        int[] done = new int[which.length];
        while (true) {
            List<LlamaModel.Chunk> chunks = new ArrayList<>();
            List<Integer> members = new ArrayList<>();
            for (int i = 0; i < which.length; i++) {
                int[] seq = SEQUENCES[which[i]];
                if (done[i] == seq.length) continue;
                int n = done[i] < PROMPTS[which[i]] ? Math.min(chunk, PROMPTS[which[i]] - done[i]) : 1;
                chunks.add(new LlamaModel.Chunk(caches.get(i), Arrays.copyOfRange(seq, done[i], done[i] + n)));
                members.add(i);
            }
            if (chunks.isEmpty()) break;
            model.forward(state, chunks);
            float[] logits = state.hostLogits(chunks.size());
            for (int c = 0; c < chunks.size(); c++) {
                int i = members.get(c);
                done[i] += chunks.get(c).tokens().length;
                out.get(i)[done[i] - 1] = Arrays.copyOfRange(logits, c * vocab, (c + 1) * vocab);
            }
        }
        caches.forEach(PagedKvCache::free);
        return out;
    }
}
