package dev.lowbit.bench.peers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * y [m, n] = x [m, k] . W^T with W [n, k] quantized to a ggml type, as llama.cpp runs a linear
 * layer: a one-node mul_mat graph (ggml converts x to the type's dot-product format, e.g. Q8_0 or
 * Q8_K, inside the timed compute) built once in its own context and computed on each call.
 */
public final class GgmlMatMul implements AutoCloseable {
    private final Ggml g = Ggml.get();
    private final MemorySegment ctx, graph, x, y;
    private final long weightBytes;
    private final int threads;

    /** Quantizes w (fp32 [n, k], row-major) to type; x is [m, k]. */
    public GgmlMatMul(Ggml.Type type, MemorySegment w, int n, int k, int m, int threads) {
        this.threads = threads;
        try (Arena a = Arena.ofConfined()) {
            long overhead = (long) g.tensorOverhead.invokeExact() * 8 + (long) g.graphOverhead.invokeExact();
            long size = overhead
                    + (long) n * k * 2
                    + (long) m * k * 6
                    + (long) m * n * 4
                    + (16L << 20); // W at <= 2 bytes, x + its quantized copy, y, slack
            MemorySegment params = a.allocate(Ggml.INIT_PARAMS);
            params.set(ValueLayout.JAVA_LONG, 0, size);
            ctx = (MemorySegment) g.init.invokeExact(params);
            if (ctx.equals(MemorySegment.NULL))
                throw new IllegalStateException("ggml_init could not allocate " + size + " bytes");
            MemorySegment wt = (MemorySegment) g.newTensor2d.invokeExact(ctx, type.id, (long) k, (long) n);
            weightBytes = (long) g.nbytes.invokeExact(wt);
            MemorySegment dst = ((MemorySegment) g.getData.invokeExact(wt)).reinterpret(weightBytes);
            long written =
                    (long) g.quantizeChunk.invokeExact(type.id, w, dst, 0L, (long) n, (long) k, MemorySegment.NULL);
            if (written != weightBytes)
                throw new IllegalStateException(
                        "ggml_quantize_chunk wrote " + written + " of " + weightBytes + " bytes");
            MemorySegment xt = (MemorySegment) g.newTensor2d.invokeExact(ctx, Ggml.Type.F32.id, (long) k, (long) m);
            x = ((MemorySegment) g.getData.invokeExact(xt)).reinterpret((long) m * k * 4);
            MemorySegment yt = (MemorySegment) g.mulMat.invokeExact(ctx, wt, xt);
            graph = (MemorySegment) g.newGraph.invokeExact(ctx);
            g.buildForwardExpand.invokeExact(graph, yt);
            y = ((MemorySegment) g.getData.invokeExact(yt)).reinterpret((long) m * n * 4);
        } catch (Throwable t) {
            throw Ggml.rethrow(t);
        }
    }

    /** The input buffer [m, k] fp32 to fill before {@link #compute()}. */
    public MemorySegment input() {
        return x;
    }

    /** The output [m, n] fp32 after {@link #compute()}. */
    public MemorySegment output() {
        return y;
    }

    public long weightBytes() {
        return weightBytes;
    }

    public void compute() {
        int status;
        try {
            status = (int) g.graphComputeWithCtx.invokeExact(ctx, graph, threads);
        } catch (Throwable t) {
            throw Ggml.rethrow(t);
        }
        if (status != 0) throw new IllegalStateException("ggml_graph_compute_with_ctx returned " + status);
    }

    @Override
    public void close() {
        try {
            g.free.invokeExact(ctx);
        } catch (Throwable t) {
            throw Ggml.rethrow(t);
        }
    }
}
