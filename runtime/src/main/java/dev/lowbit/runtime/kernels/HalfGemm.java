package dev.lowbit.runtime.kernels;

import static dev.lowbit.bindings.lowbit.lowbit_h.lb_cpu_half_gemm;
import static dev.lowbit.bindings.lowbit.lowbit_h.lb_cpu_half_widen;
import static dev.lowbit.runtime.kernels.cpu.Native.check;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Blas;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * Dense layers whose weights stay in their stored half precision (F16 / BF16, e.g. views of a
 * memory-mapped checkpoint), host only: y = x . W^T with x fp32. Up to {@link #PANEL_MIN_M} rows of
 * x run liblowbit's half-weight GEMM (every weight read once, widened on the fly); more rows widen
 * the weights a panel at a time into fp32 and run OpenBLAS's sgemm on each panel, which only
 * costs one extra pass over W per call.
 */
final class HalfGemm {
    /** From this many rows of x on, panels through sgemm beat the half-weight kernel (measured: bench/scale.sh). */
    static final long PANEL_MIN_M = 16;

    /** fp32 bytes of one widened weight panel: a few MB, so it stays in the last-level cache. */
    private static final long PANEL_BYTES = 8L << 20;

    static {
        Native.ensureLoaded();
    }

    private HalfGemm() {}

    static boolean isHalf(DType t) {
        return t == DType.F16 || t == DType.BF16;
    }

    /** y [m, n] = x [m, k] . w^T (+ y when accumulate) for w [n, k] F16 or BF16; all on the host, checked here. */
    static void matmul(Tensor x, Tensor w, Tensor y, boolean accumulate) {
        Check.on(Device.CPU, x, "x", DType.F32);
        Check.on(Device.CPU, w, "weights", DType.F16, DType.BF16);
        long m = x.dim(0), k = x.dim(1), n = w.dim(0);
        if (w.rank() != 2 || w.dim(1) != k)
            throw new LowbitException("x is [" + m + ", " + k + "] but the weights are " + w);
        Check.shape(Check.on(Device.CPU, y, "y", DType.F32), "y", m, n);
        if (m < PANEL_MIN_M) {
            check(
                    lb_cpu_half_gemm(
                            x.segment(),
                            m,
                            k,
                            w.segment(),
                            w.dtype().nativeCode(),
                            n,
                            k,
                            accumulate ? 1 : 0,
                            y.segment()),
                    "half-precision GEMM");
            return;
        }
        long panelRows = Math.max(1, Math.min(n, PANEL_BYTES / (4 * k)));
        try (Arena arena = Arena.ofConfined()) {
            Tensor panel = Tensor.allocate(arena, DType.F32, panelRows, k);
            for (long r0 = 0; r0 < n; r0 += panelRows) {
                long rows = Math.min(panelRows, n - r0);
                Tensor p = panel.rows(0, rows);
                widen(w.rows(r0, rows), p);
                Blas.sgemm(
                        false,
                        true,
                        m,
                        rows,
                        k,
                        1f,
                        x.segment(),
                        k,
                        p.segment(),
                        k,
                        accumulate ? 1f : 0f,
                        y.segment().asSlice(r0 * Float.BYTES),
                        n);
            }
        }
    }

    /** dst (F32) = src (F16 or BF16, same shape, host) widened exactly. */
    static void widen(Tensor src, Tensor dst) {
        Check.on(Device.CPU, src, "source", DType.F16, DType.BF16);
        Check.on(Device.CPU, dst, "destination", DType.F32);
        if (src.numel() != dst.numel() || src.rank() == 0 || dst.dim(-1) != src.dim(-1))
            throw new LowbitException("cannot widen " + src + " into " + dst + ": shapes differ");
        long cols = src.dim(-1), rows = src.numel() / cols;
        check(
                lb_cpu_half_widen(src.segment(), src.dtype().nativeCode(), rows, cols, cols, dst.segment()),
                "widen to fp32");
    }
}
