package dev.lowbit.runtime.ref;

/**
 * Plain-Java reference of liblowbit's quantization arithmetic, written from lowbit.h's contract
 * (not from the C code): the same float operations in the same order where results must match
 * bit for bit, double precision where only sums are compared.
 */
public final class QuantRef {
    public static final int MSE_GRID = 100;
    public static final int MSE_STEPS = 80;

    private QuantRef() {}

    /** Per-group scale and zero point. */
    public record Params(float scale, float zero) {}

    /** A quantized matrix in plain arrays: codes [n][k] unpacked, scales/zeros [n][groups]. */
    public record Quantized(int[][] codes, float[][] scales, float[][] zeros, int bits, int group) {
        public float dequant(int r, int j) {
            int g = j / group;
            return ((float) codes[r][j] - zeros[r][g]) * scales[r][g];
        }
    }

    public static float maxq(int bits) {
        return (float) ((1 << bits) - 1);
    }

    /** Params of [lo, hi] (lo <= 0 <= hi), rounded to the storage type; null if fp16 overflows. */
    public static Params rangeParams(float lo, float hi, int bits, boolean symmetric, boolean fp16) {
        double s;
        float z;
        if (symmetric) {
            s = Math.max(-(double) lo, (double) hi) / (double) ((1 << (bits - 1)) - 1);
            z = (float) (1 << (bits - 1));
        } else {
            s = ((double) hi - (double) lo) / (double) maxq(bits);
            z = 0f;
        }
        float sf = (float) s;
        if (sf == 0f) sf = 1f;
        if (fp16) {
            if (sf > 65504f) return null;
            sf = Float.float16ToFloat(Float.floatToFloat16(sf));
            if (sf == 0f) sf = 0x1p-24f;
        }
        if (!symmetric) z = clamp((float) Math.rint(-lo / sf), 0f, maxq(bits));
        return new Params(sf, z);
    }

    /** w / s as lowbit.h defines it: w times the fp32 reciprocal of s, unless that overflows. */
    public static float scaled(float w, float s) {
        float r = 1f / s;
        return Float.isFinite(r) ? w * r : w / s;
    }

    public static int code(float w, Params p, int bits) {
        return (int) clamp((float) Math.rint(scaled(w, p.scale())) + p.zero(), 0f, maxq(bits));
    }

    public static double squaredError(float[] w, int from, int len, Params p, int bits) {
        double err = 0;
        for (int i = from; i < from + len; i++) {
            float q = code(w[i], p, bits);
            double d = (double) ((q - p.zero()) * p.scale()) - (double) w[i];
            err += d * d;
        }
        return err;
    }

    /** Params of one group by min-max (mse = false) or by the shrink search minimising squared error. */
    public static Params groupParams(
            float[] w, int from, int len, int bits, boolean symmetric, boolean mse, boolean fp16) {
        float lo = 0f, hi = 0f;
        for (int i = from; i < from + len; i++) {
            lo = Math.min(lo, w[i]);
            hi = Math.max(hi, w[i]);
        }
        if (!mse) return rangeParams(lo, hi, bits, symmetric, fp16);
        Params best = null;
        double bestErr = Double.POSITIVE_INFINITY;
        for (int i = 0; i < MSE_STEPS; i++) {
            float shrink = 1.0f - (float) i / (float) MSE_GRID;
            Params p = rangeParams(shrink * lo, shrink * hi, bits, symmetric, fp16);
            if (p == null) continue;
            double err = squaredError(w, from, len, p, bits);
            if (err < bestErr) {
                bestErr = err;
                best = p;
            }
        }
        return best;
    }

    /** Quantizes w [n][k] row-major; group = k for per-channel. */
    public static Quantized quantize(
            float[] w, int n, int k, int bits, int group, boolean symmetric, boolean mse, boolean fp16) {
        int groups = k / group;
        int[][] codes = new int[n][k];
        float[][] scales = new float[n][groups], zeros = new float[n][groups];
        for (int r = 0; r < n; r++)
            for (int g = 0; g < groups; g++) {
                Params p = groupParams(w, r * k + g * group, group, bits, symmetric, mse, fp16);
                if (p == null) throw new ArithmeticException("fp16 scale overflow");
                scales[r][g] = p.scale();
                zeros[r][g] = p.zero();
                for (int j = g * group; j < (g + 1) * group; j++) codes[r][j] = code(w[r * k + j], p, bits);
            }
        return new Quantized(codes, scales, zeros, bits, group);
    }

    /** One row's codes as lowbit.h's little-endian bit stream in ceil(k * bits / 32) words. */
    public static int[] pack(int[] codes, int bits) {
        int[] words = new int[(codes.length * bits + 31) / 32];
        for (int j = 0; j < codes.length; j++) {
            long bit = (long) j * bits;
            long v = (long) codes[j] << (bit & 31);
            words[(int) (bit >>> 5)] |= (int) v;
            if ((bit & 31) + bits > 32) words[(int) (bit >>> 5) + 1] |= (int) (v >>> 32);
        }
        return words;
    }

    /** y [m][n] = x . dequant(W)^T + bias in double. */
    public static double[][] gemm(float[] x, int m, Quantized q, float[] bias) {
        int n = q.codes().length, k = q.codes()[0].length;
        double[][] y = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int r = 0; r < n; r++) {
                double acc = bias == null ? 0 : bias[r];
                for (int j = 0; j < k; j++) acc += (double) x[i * k + j] * q.dequant(r, j);
                y[i][r] = acc;
            }
        return y;
    }

    /** Sum over j of |x_j| |w_j| per output: the scale of rounding error a float dot product may carry. */
    public static double[][] absGemm(float[] x, int m, Quantized q) {
        int n = q.codes().length, k = q.codes()[0].length;
        double[][] y = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int r = 0; r < n; r++) {
                double acc = 0;
                for (int j = 0; j < k; j++) acc += Math.abs((double) x[i * k + j] * q.dequant(r, j));
                y[i][r] = acc;
            }
        return y;
    }

    /** Per-token asymmetric activation quantization: codes [m][k], and per row {scale, zero}. */
    public static Quantized quantizeActivations(float[] x, int m, int k, int bits) {
        int[][] codes = new int[m][k];
        float[][] scales = new float[m][1], zeros = new float[m][1];
        for (int i = 0; i < m; i++) {
            float lo = 0f, hi = 0f;
            for (int j = 0; j < k; j++) {
                lo = Math.min(lo, x[i * k + j]);
                hi = Math.max(hi, x[i * k + j]);
            }
            float s = (float) (((double) hi - (double) lo) / (double) maxq(bits));
            if (s == 0f) s = 1f;
            float z = clamp((float) Math.rint(-lo / s), 0f, maxq(bits));
            Params p = new Params(s, z);
            scales[i][0] = s;
            zeros[i][0] = z;
            for (int j = 0; j < k; j++) codes[i][j] = code(x[i * k + j], p, bits);
        }
        return new Quantized(codes, scales, zeros, bits, k);
    }

    /** Integer GEMM reference: sa sw sum (qa - za)(qw - zw) per group, exact integer sums. */
    public static double[][] intGemm(Quantized a, Quantized w, float[] bias) {
        return intGemm(a, w, bias, false);
    }

    /** Sum over k of |sa (qa - za) sw (qw - zw)|: the scale of fp32 accumulation error. */
    public static double[][] absIntGemm(Quantized a, Quantized w) {
        return intGemm(a, w, null, true);
    }

    private static double[][] intGemm(Quantized a, Quantized w, float[] bias, boolean abs) {
        int m = a.codes().length, n = w.codes().length, k = w.codes()[0].length, g = w.group();
        double[][] y = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int r = 0; r < n; r++) {
                double acc = bias == null ? 0 : bias[r];
                for (int gi = 0; gi < k / g; gi++) {
                    long dot = 0;
                    for (int j = gi * g; j < (gi + 1) * g; j++) {
                        long p = (long) (a.codes()[i][j] - (int) a.zeros()[i][0])
                                * (w.codes()[r][j] - (int) w.zeros()[r][gi]);
                        dot += abs ? Math.abs(p) : p;
                    }
                    double scale = (double) w.scales()[r][gi] * (double) a.scales()[i][0];
                    acc += (abs ? Math.abs(scale) : scale) * (double) dot;
                }
                y[i][r] = acc;
            }
        return y;
    }

    /** Fake-quant forward: (mag * s) * (clamp(rint(w / s) + z) - z). */
    public static float fakeQuant(float w, float s, float z, float mag, int bits) {
        float q = clamp((float) Math.rint(scaled(w, s)) + z, 0f, maxq(bits));
        return (mag * s) * (q - z);
    }

    static float clamp(float v, float lo, float hi) {
        return v < lo ? lo : (v > hi ? hi : v);
    }
}
