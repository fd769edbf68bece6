package dev.lowbit.bench.peers;

import com.github.tjake.jlama.math.VectorMath;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.FloatBufferTensor;
import com.github.tjake.jlama.tensor.Q4ByteBufferTensor;
import com.github.tjake.jlama.tensor.TensorShape;
import com.github.tjake.jlama.tensor.operations.TensorOperations;
import com.github.tjake.jlama.tensor.operations.TensorOperationsProvider;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * y [m, n] = x [m, k] . W^T with W in Jlama's Q4 format (blocks of 32 4-bit values with an fp32
 * factor), as Jlama runs a linear layer: x quantized to its I8 format, then the Q4 x I8 dot products
 * chunked over output rows by its own parallel loop (VectorMath.pchunk). Jlama picks its native
 * SIMD operations (jlama-native) when they load, else its Panama Vector API ones; see {@link #operations()}.
 */
public final class JlamaMatMul {
    private final TensorOperations ops = TensorOperationsProvider.get();
    private final Q4ByteBufferTensor w;
    private final FloatBufferTensor x, y;
    private final int n, k;

    /** Quantizes w (fp32 [n, k], row-major) to Q4; x is [m, k]. */
    public JlamaMatMul(MemorySegment weights, int n, int k, int m) {
        this.n = n;
        this.k = k;
        FloatBufferTensor dense = new FloatBufferTensor(
                weights.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(), TensorShape.of(n, k), false);
        w = new Q4ByteBufferTensor(dense);
        x = new FloatBufferTensor(m, k);
        y = new FloatBufferTensor(m, n);
    }

    /** The input buffer [m, k] fp32 to fill before {@link #compute()}. */
    public MemorySegment input() {
        return x.getMemorySegment();
    }

    /** The output [m, n] fp32 after {@link #compute()}. */
    public MemorySegment output() {
        return y.getMemorySegment();
    }

    public String operations() {
        return ops.name();
    }

    public void compute() {
        AbstractTensor xq = ops.quantize(x, DType.I8, 0, k);
        VectorMath.pchunk(0, n, (start, size) -> ops.dotProductChunk(y, xq, w, 0, k, start, size));
        xq.close();
    }
}
