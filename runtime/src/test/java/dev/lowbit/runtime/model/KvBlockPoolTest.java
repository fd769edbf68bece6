package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The paged KV pool: what is stored at a sequence's positions comes back through its block table,
 * exactly for fp32, rounded as Java rounds to fp16 / bf16, and within half an int8 step of each
 * head's scale; blocks are reserved, counted and returned.
 */
class KvBlockPoolTest {
    private static final LlamaConfig CONFIG = new LlamaConfig(32, 64, 2, 4, 2, 11, 64, 1e-5f, 10000f, false);

    @Test
    void storedRowsComeBackThroughTheBlockTable() {
        int kvDim = CONFIG.kvDim(), hd = CONFIG.headDim();
        for (KvDtype dtype : KvDtype.values())
            try (Arena arena = Arena.ofConfined()) {
                KvBlockPool pool =
                        new KvBlockPool(arena, CONFIG, Device.CPU, dtype, 8 * KvBlockPool.bytesPerBlock(CONFIG, dtype));
                PagedKvCache other = pool.allocate(20), seq = pool.allocate(40); // seq's blocks are not the first ones
                int n = 37;
                float[] k = new float[n * kvDim], v = new float[n * kvDim];
                SplittableRandom rnd = new SplittableRandom(3);
                for (int i = 0; i < k.length; i++) {
                    k[i] = (float) rnd.nextGaussian() * 3;
                    v[i] = (float) rnd.nextGaussian();
                }
                for (int from = 0; from < n; from += 13) { // stored in pieces crossing block boundaries
                    int m = Math.min(13, n - from);
                    seq.store(
                            1,
                            Tensor.of(arena, slice(k, from, m, kvDim), m, kvDim),
                            Tensor.of(arena, slice(v, from, m, kvDim), m, kvDim));
                    seq.advance(m);
                }
                Tensor scratch = Tensor.allocate(arena, DType.F32, CONFIG.maxSeqLen(), kvDim);
                float[] gotK = seq.keys(1, n, scratch).rows(0, n).toFloatArray();
                float[] gotV = seq.values(1, n, scratch).rows(0, n).toFloatArray();
                for (float[][] pair : new float[][][] {{k, gotK}, {v, gotV}})
                    for (int i = 0; i < n * kvDim; i++) {
                        float want = pair[0][i], got = pair[1][i];
                        switch (dtype) {
                            case F32 -> assertEquals(want, got, 0f);
                            case F16 -> assertEquals(Float.float16ToFloat(Float.floatToFloat16(want)), got, 0f);
                            case BF16 -> assertEquals(Float.intBitsToFloat(Tensor.bf16(want) << 16), got, 0f);
                            case INT8 -> {
                                int row = i / kvDim, head = (i % kvDim) / hd;
                                float amax = 0;
                                for (int j = 0; j < hd; j++)
                                    amax = Math.max(amax, Math.abs(pair[0][row * kvDim + head * hd + j]));
                                assertEquals(want, got, amax / 254 * 1.0001f, "int8 at " + i);
                            }
                        }
                    }
                other.free();
                seq.free();
                seq.free(); // idempotent
                assertEquals(pool.totalBlocks(), pool.freeBlocks());
            }
    }

    @Test
    void blocksAreReservedCountedAndReturned() {
        try (Arena arena = Arena.ofConfined()) {
            KvBlockPool pool = new KvBlockPool(
                    arena, CONFIG, Device.CPU, KvDtype.F16, 5 * KvBlockPool.bytesPerBlock(CONFIG, KvDtype.F16) + 7);
            assertEquals(5, pool.totalBlocks());
            PagedKvCache a = pool.allocate(33); // 3 blocks
            assertEquals(3, a.blocks());
            assertEquals(2, pool.freeBlocks());
            LowbitException e = assertThrows(LowbitException.class, () -> pool.allocate(40));
            assertTrue(e.getMessage().contains("needs 3"), e.getMessage());
            assertThrows(LowbitException.class, () -> pool.allocate(65), "beyond the context");
            a.free();
            assertEquals(5, pool.freeBlocks());
            assertThrows(LowbitException.class, () -> a.checkRoom(1), "a freed cache takes nothing");
            assertThrows(LowbitException.class, () -> new KvBlockPool(arena, CONFIG, Device.CPU, KvDtype.F16, 100));
        }
    }

    private static float[] slice(float[] a, int row, int rows, int cols) {
        float[] out = new float[rows * cols];
        System.arraycopy(a, row * cols, out, 0, out.length);
        return out;
    }
}
