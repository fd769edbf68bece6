package dev.lowbit.methods.quant.gptq;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Blas;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GPTQ's Hessian of a linear's layer-wise squared error, H = 2/N · XᵀX over the N calibration
 * tokens X [N, in] the layer reads, accumulated in fp64 (dsyrk) as batches of inputs pass.
 */
public final class Hessian {
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE;

    private final Arena arena;
    private final int n;
    private final MemorySegment sum; // upper triangle of the sum of xᵀx
    private MemorySegment rows = MemorySegment.NULL;
    private long tokens;

    public Hessian(Arena arena, int inFeatures) {
        if (inFeatures <= 0) throw new LowbitException("a Hessian needs a positive width, got " + inFeatures);
        this.arena = arena;
        this.n = inFeatures;
        this.sum = arena.allocate((long) n * n * Double.BYTES, 64);
    }

    public int inFeatures() {
        return n;
    }

    public long tokens() {
        return tokens;
    }

    /** Adds the rows of x ([..., in], fp32 on the CPU). */
    public void add(Tensor x) {
        if (x.dtype() != DType.F32 || x.dim(-1) != n || !x.isContiguous())
            throw new LowbitException(
                    "Hessian of width " + n + " takes contiguous F32 [..., " + n + "] inputs, got " + x);
        long m = x.numel() / n;
        if (rows.byteSize() < m * n * Double.BYTES) rows = arena.allocate(m * n * Double.BYTES, 64);
        MemorySegment in = x.segment();
        for (long i = 0; i < m * n; i++) rows.setAtIndex(F64, i, in.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        Blas.dsyrkUpperTransposed(n, m, 1.0, rows, n, 1.0, sum, n);
        tokens += m;
    }

    /** H = 2/N · XᵀX, full (both triangles), row-major [in, in] fp64, in a new segment of arena. */
    public MemorySegment matrix(Arena arena) {
        if (tokens == 0) throw new LowbitException("no calibration inputs reached this layer");
        MemorySegment h = arena.allocate((long) n * n * Double.BYTES, 64);
        double scale = 2.0 / tokens;
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) {
                double v = scale * sum.getAtIndex(F64, (long) i * n + j);
                h.setAtIndex(F64, (long) i * n + j, v);
                h.setAtIndex(F64, (long) j * n + i, v);
            }
        return h;
    }
}
