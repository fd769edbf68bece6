package dev.lowbit.methods.quant.gptq;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Blas;
import dev.lowbit.runtime.kernels.cpu.Lapack;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * GPTQ on one linear (Frantar et al. 2022, Algorithm 1, as AutoGPTQ/GPTQModel run it): given the
 * Hessian H = 2/N · XᵀX of its inputs, columns without input ("dead": H_jj = 0) get H_jj = 1 and
 * zero weights; with act-order the columns are permuted by decreasing H_jj; H += damp · mean(diag
 * H) · I; U = the upper Cholesky factor of H⁻¹ (LAPACK: dpotrf, dpotri, dpotrf). Then column by
 * column: quantize w_j (a new group's min-max range is taken when its first column is reached,
 * from the weights as updated so far), err = (w_j - q_j) / U_jj, and the later columns of the row
 * take -err · U_j,k; within lazy batches of 128 columns the update reaches the batch only, and
 * the rest of the matrix gets it at the batch's end as one GEMM (Err · U[batch, after]).
 *
 * <p>One difference from AutoGPTQ: its ranges for groups that start inside a batch (g 32, 64) are
 * read from the matrix before the batch's pending updates; here they come from the updated
 * weights, which is what the unbatched algorithm does.
 */
public final class GptqQuantizer {
    /** Columns per lazy batch (AutoGPTQ's blocksize). */
    public static final int BATCH = 128;

    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE;

    private GptqQuantizer() {}

    /** GPTQ of weight [out, in] (fp32, CPU) under hessian (row-major [in, in] fp64, symmetric; not modified). */
    public static GptqLayer quantize(Tensor weight, MemorySegment hessian, GptqConfig cfg) {
        if (weight.rank() != 2 || weight.dtype() != DType.F32)
            throw new LowbitException("GPTQ quantizes F32 [out, in] weights, got " + weight);
        if (weight.numel() > Integer.MAX_VALUE - 8 || weight.dim(1) > 65536)
            throw new LowbitException("GPTQ takes layers of up to 2^31 weights and 65536 inputs, got " + weight);
        int rows = (int) weight.dim(0), cols = (int) weight.dim(1);
        if (hessian.byteSize() < (long) cols * cols * Double.BYTES)
            throw new LowbitException("the Hessian holds less than [" + cols + ", " + cols + "] fp64 values");
        QuantSpec spec = cfg.spec();
        int g = spec.groupSizeFor(cols);
        float[] w0 = weight.toFloatArray();
        try (Arena arena = Arena.ofShared()) { // rows run in parallel
            double[] diag = new double[cols];
            for (int j = 0; j < cols; j++) {
                double d = hessian.getAtIndex(F64, (long) j * cols + j);
                if (!Double.isFinite(d) || d < 0)
                    throw new LowbitException("the Hessian has diagonal entry " + d + " at column " + j);
                diag[j] = d == 0 ? 1 : d; // a dead column
            }
            int[] order = cfg.actOrder() ? decreasing(diag) : null;
            int[] at = order != null ? order : IntStream.range(0, cols).toArray();
            MemorySegment h = arena.allocate((long) cols * cols * Double.BYTES, 64);
            MemorySegment w = arena.allocate((long) rows * cols * Double.BYTES, 64);
            double mean = Arrays.stream(diag).average().orElseThrow();
            for (int i = 0; i < cols; i++) {
                boolean dead = hessian.getAtIndex(F64, (long) at[i] * cols + at[i]) == 0;
                for (int j = 0; j < cols; j++)
                    h.setAtIndex(F64, (long) i * cols + j, hessian.getAtIndex(F64, (long) at[i] * cols + at[j]));
                h.setAtIndex(F64, (long) i * cols + i, diag[at[i]] + cfg.damp() * mean);
                for (int r = 0; r < rows; r++) w.setAtIndex(F64, (long) r * cols + i, dead ? 0 : w0[r * cols + at[i]]);
            }
            inverseCholeskyUpper(h, cols);
            return run(w, h, rows, cols, g, spec, order);
        }
    }

    /** h becomes U, upper triangular, with h⁻¹ = Uᵀ U (strict lower triangle zeroed). */
    static void inverseCholeskyUpper(MemorySegment h, int n) {
        check(Lapack.choleskyUpper(h, n), "factor");
        check(Lapack.inverseFromCholeskyUpper(h, n), "invert");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) h.setAtIndex(F64, (long) i * n + j, h.getAtIndex(F64, (long) j * n + i));
        check(Lapack.choleskyUpper(h, n), "factor the inverse of");
        for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) h.setAtIndex(F64, (long) i * n + j, 0.0);
    }

    private static void check(int info, String what) {
        if (info != 0)
            throw new LowbitException("GPTQ cannot " + what + " the Hessian: not positive definite at column " + info
                    + "; raise the dampening or use more calibration samples");
    }

    /** Column indices by decreasing value (ties in index order). */
    static int[] decreasing(double[] v) {
        return IntStream.range(0, v.length)
                .boxed()
                .sorted(Comparator.comparingDouble((Integer j) -> -v[j]))
                .mapToInt(Integer::intValue)
                .toArray();
    }

    private static GptqLayer run(
            MemorySegment w, MemorySegment u, int rows, int cols, int g, QuantSpec spec, int[] order) {
        int groups = cols / g, bits = spec.bits();
        int[] codes = new int[rows * cols];
        float[] scales = new float[rows * groups], zeros = new float[rows * groups], reached = new float[rows * cols];
        double[] losses = new double[rows];
        try (Arena arena = Arena.ofShared()) { // rows run in parallel
            MemorySegment err = arena.allocate((long) rows * BATCH * Double.BYTES, 64);
            for (int i1 = 0; i1 < cols; i1 += BATCH) {
                int from = i1, i2 = Math.min(i1 + BATCH, cols), count = i2 - i1;
                double[] u1 = new double[count * count];
                for (int i = 0; i < count; i++)
                    MemorySegment.copy(u, F64, ((long) (i1 + i) * cols + i1) * Double.BYTES, u1, i * count, count);
                IntStream.range(0, rows).parallel().forEach(r -> {
                    double[] w1 = new double[count];
                    MemorySegment.copy(w, F64, ((long) r * cols + from) * Double.BYTES, w1, 0, count);
                    // a group reaching back into an earlier batch (g 256, per-channel) keeps its range
                    float scale = scales[r * groups + from / g], zero = zeros[r * groups + from / g];
                    for (int i = 0; i < count; i++) {
                        int c = from + i;
                        if (c % g == 0) { // a group starts: its range from the weights as they are now
                            float lo = 0, hi = 0;
                            for (int j = c; j < c + g; j++) {
                                float v = (float)
                                        (j < from + count ? w1[j - from] : w.getAtIndex(F64, (long) r * cols + j));
                                lo = Math.min(lo, v);
                                hi = Math.max(hi, v);
                            }
                            float[] p = rangeParams(lo, hi, bits, spec.symmetric());
                            scale = p[0];
                            zero = p[1];
                            scales[r * groups + c / g] = scale;
                            zeros[r * groups + c / g] = zero;
                        }
                        double x = w1[i], d = u1[i * count + i];
                        int q = code((float) x, scale, zero, bits);
                        codes[r * cols + c] = q;
                        reached[r * cols + c] = (float) x;
                        double e = (x - ((float) q - zero) * scale) / d;
                        losses[r] += e * e / 2;
                        for (int j = i + 1; j < count; j++) w1[j] -= e * u1[i * count + j];
                        err.setAtIndex(F64, (long) r * count + i, e);
                    }
                });
                if (i2 < cols)
                    Blas.dgemm(
                            false,
                            false,
                            rows,
                            cols - i2,
                            count,
                            -1.0,
                            err,
                            count,
                            u.asSlice(((long) i1 * cols + i2) * Double.BYTES),
                            cols,
                            1.0,
                            w.asSlice((long) i2 * Double.BYTES),
                            cols);
            }
        }
        return new GptqLayer(
                rows,
                cols,
                bits,
                g,
                codes,
                scales,
                zeros,
                order,
                reached,
                Arrays.stream(losses).sum());
    }

    /**
     * lowbit's min-max range of [lo, hi] (lo <= 0 <= hi) as RTN computes it (lowbit.h): {scale, zero}.
     * Asymmetric: s = (hi - lo) / (2^b - 1), z = round(-lo / s); symmetric: s = max(-lo, hi) /
     * (2^(b-1) - 1), z = 2^(b-1); a zero range gets s = 1.
     */
    static float[] rangeParams(float lo, float hi, int bits, boolean symmetric) {
        float maxq = (1 << bits) - 1;
        double s = symmetric
                ? Math.max(-(double) lo, (double) hi) / ((1 << (bits - 1)) - 1)
                : ((double) hi - (double) lo) / maxq;
        float sf = (float) s;
        if (sf == 0f) sf = 1f;
        float z = symmetric ? (float) (1 << (bits - 1)) : clamp((float) Math.rint(-lo / sf), maxq);
        return new float[] {sf, z};
    }

    /** q = clamp(rint(w / s) + z, 0, 2^b - 1), w / s as w times the fp32 reciprocal of s unless that overflows. */
    static int code(float w, float s, float z, int bits) {
        float r = 1f / s;
        float scaled = Float.isFinite(r) ? w * r : w / s;
        return (int) clamp((float) Math.rint(scaled) + z, (1 << bits) - 1);
    }

    private static float clamp(float v, float max) {
        return Math.max(0f, Math.min(max, v));
    }
}
