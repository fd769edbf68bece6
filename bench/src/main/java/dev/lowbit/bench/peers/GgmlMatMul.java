package dev.lowbit.bench.peers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * y [m, n] = x [m, k] . W^T with W [n, k] quantized to a ggml type, as llama.cpp runs a linear
 * layer: a one-node mul_mat graph (ggml converts x to the type's dot-product format, e.g. Q8_0 or
 * Q8_K, inside the timed compute) built once and computed on each call. Plain types live in one
 * context computed with ggml_graph_compute_with_ctx; {@link Ggml.Type#Q4_0x8} puts W in the CPU
 * backend's repack buffer (ggml_backend_tensor_set interleaves it) and computes through the CPU
 * backend, which is what llama.cpp does with a Q4_0 model at load.
 */
public final class GgmlMatMul implements AutoCloseable {
    private final Ggml g = Ggml.get();
    private final MemorySegment ctx, graph, x, y;
    private final long weightBytes;
    private final int threads;
    // the repacked layout only: W's own context and buffer, x and y's buffer, the CPU backend
    private MemorySegment weightCtx = MemorySegment.NULL,
            weightBuffer = MemorySegment.NULL,
            buffer = MemorySegment.NULL,
            backend = MemorySegment.NULL;

    /** Quantizes w (fp32 [n, k], row-major) to type; x is [m, k]. */
    public GgmlMatMul(Ggml.Type type, MemorySegment w, int n, int k, int m, int threads) {
        this.threads = threads;
        try (Arena a = Arena.ofConfined()) {
            long overhead = (long) g.tensorOverhead.invokeExact() * 8 + (long) g.graphOverhead.invokeExact();
            MemorySegment wt;
            if (type.repacked) {
                MemorySegment repack = g.repackBufferType();
                if (repack == null) throw new IllegalStateException("ggml's CPU backend has no CPU_REPACK buffer");
                weightCtx = context(a, overhead, true);
                wt = (MemorySegment) g.newTensor2d.invokeExact(weightCtx, type.id, (long) k, (long) n);
                weightBuffer = (MemorySegment) g.allocCtxTensorsFromBuft.invokeExact(weightCtx, repack);
                weightBytes = (long) g.nbytes.invokeExact(wt);
                MemorySegment packed = a.allocate(weightBytes, 64);
                quantize(type, w, packed, n, k);
                g.tensorSet.invokeExact(wt, packed, 0L, weightBytes); // repacks into block_q4_0x8
                ctx = context(a, overhead, true);
            } else {
                // W at <= 2 bytes, x + its quantized copy, y, slack
                long data = (long) n * k * 2 + (long) m * k * 6 + (long) m * n * 4 + (16L << 20);
                ctx = context(a, overhead + data, false);
                wt = (MemorySegment) g.newTensor2d.invokeExact(ctx, type.id, (long) k, (long) n);
                weightBytes = (long) g.nbytes.invokeExact(wt);
                quantize(type, w, ((MemorySegment) g.getData.invokeExact(wt)).reinterpret(weightBytes), n, k);
            }
            MemorySegment xt = (MemorySegment) g.newTensor2d.invokeExact(ctx, Ggml.Type.F32.id, (long) k, (long) m);
            MemorySegment yt = (MemorySegment) g.mulMat.invokeExact(ctx, wt, xt);
            graph = (MemorySegment) g.newGraph.invokeExact(ctx);
            g.buildForwardExpand.invokeExact(graph, yt);
            if (type.repacked) {
                buffer = (MemorySegment)
                        g.allocCtxTensorsFromBuft.invokeExact(ctx, (MemorySegment) g.cpuBufferType.invokeExact());
                backend = (MemorySegment) g.backendCpuInit.invokeExact();
                g.backendSetThreads.invokeExact(backend, threads);
            }
            x = ((MemorySegment) g.getData.invokeExact(xt)).reinterpret((long) m * k * 4);
            y = ((MemorySegment) g.getData.invokeExact(yt)).reinterpret((long) m * n * 4);
        } catch (Throwable t) {
            close();
            throw Ggml.rethrow(t);
        }
    }

    /** A ggml context of size bytes; where the tensors' data is allocated from a backend buffer, only their headers. */
    private MemorySegment context(Arena a, long size, boolean noAlloc) throws Throwable {
        MemorySegment params = a.allocate(Ggml.INIT_PARAMS);
        params.set(ValueLayout.JAVA_LONG, 0, size);
        params.set(ValueLayout.JAVA_BOOLEAN, 16, noAlloc);
        MemorySegment c = (MemorySegment) g.init.invokeExact(params);
        if (c.equals(MemorySegment.NULL))
            throw new IllegalStateException("ggml_init could not allocate " + size + " bytes");
        return c;
    }

    private void quantize(Ggml.Type type, MemorySegment w, MemorySegment dst, int n, int k) throws Throwable {
        long written = (long) g.quantizeChunk.invokeExact(type.id, w, dst, 0L, (long) n, (long) k, MemorySegment.NULL);
        if (written != weightBytes)
            throw new IllegalStateException("ggml_quantize_chunk wrote " + written + " of " + weightBytes + " bytes");
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
            status = backend.equals(MemorySegment.NULL)
                    ? (int) g.graphComputeWithCtx.invokeExact(ctx, graph, threads)
                    : (int) g.graphCompute.invokeExact(backend, graph);
        } catch (Throwable t) {
            throw Ggml.rethrow(t);
        }
        if (status != 0) throw new IllegalStateException("ggml's graph compute returned " + status);
    }

    @Override
    public void close() {
        try {
            if (!backend.equals(MemorySegment.NULL)) g.backendFree.invokeExact(backend);
            if (!buffer.equals(MemorySegment.NULL)) g.bufferFree.invokeExact(buffer);
            if (!weightBuffer.equals(MemorySegment.NULL)) g.bufferFree.invokeExact(weightBuffer);
            if (ctx != null) g.free.invokeExact(ctx);
            if (!weightCtx.equals(MemorySegment.NULL)) g.free.invokeExact(weightCtx);
        } catch (Throwable t) {
            throw Ggml.rethrow(t);
        }
    }
}
