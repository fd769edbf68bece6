package dev.lowbit.methods.quant.gptq;

import dev.lowbit.runtime.ref.QuantRef;

/**
 * GPTQ written out plainly from the paper's Algorithm 1 with AutoGPTQ's handling of dead columns,
 * act-order and dampening: double loops, a textbook Cholesky, H⁻¹ by forward and back
 * substitution, every column's error applied at once to all later columns (no lazy batches), and
 * lowbit's range and code arithmetic from QuantRef.
 */
final class GptqReference {
    /** Codes [rows][cols] and scales / zeros [rows][groups] in quantization order, and that order. */
    record Result(int[][] codes, float[][] scales, float[][] zeros, int[] order) {}

    private GptqReference() {}

    static Result quantize(
            float[] weight,
            int rows,
            int cols,
            double[][] hessian,
            int bits,
            int group,
            boolean symmetric,
            double damp,
            boolean actOrder) {
        int n = cols;
        double[] diag = new double[n];
        boolean[] dead = new boolean[n];
        for (int j = 0; j < n; j++) {
            dead[j] = hessian[j][j] == 0;
            diag[j] = dead[j] ? 1 : hessian[j][j];
        }
        int[] order = new int[n];
        for (int j = 0; j < n; j++) order[j] = j;
        if (actOrder) // insertion sort by decreasing diagonal, stable
        for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && diag[order[j]] > diag[order[j - 1]]; j--) {
                    int t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
        double mean = 0;
        for (double d : diag) mean += d / n;
        double[][] h = new double[n][n];
        double[][] w = new double[rows][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) h[i][j] = hessian[order[i]][order[j]];
            h[i][i] = diag[order[i]] + damp * mean;
            for (int r = 0; r < rows; r++) w[r][i] = dead[order[i]] ? 0 : weight[r * cols + order[i]];
        }
        double[][] u = transpose(cholesky(inverse(h)));
        int groups = n / group;
        int[][] codes = new int[rows][n];
        float[][] scales = new float[rows][groups], zeros = new float[rows][groups];
        for (int j = 0; j < n; j++) {
            for (int r = 0; r < rows; r++) {
                if (j % group == 0) {
                    float lo = 0, hi = 0;
                    for (int c = j; c < j + group; c++) {
                        lo = Math.min(lo, (float) w[r][c]);
                        hi = Math.max(hi, (float) w[r][c]);
                    }
                    QuantRef.Params p = QuantRef.rangeParams(lo, hi, bits, symmetric, false);
                    scales[r][j / group] = p.scale();
                    zeros[r][j / group] = p.zero();
                }
                QuantRef.Params p = new QuantRef.Params(scales[r][j / group], zeros[r][j / group]);
                int q = QuantRef.code((float) w[r][j], p, bits);
                codes[r][j] = q;
                double err = (w[r][j] - ((float) q - p.zero()) * p.scale()) / u[j][j];
                for (int c = j + 1; c < n; c++) w[r][c] -= err * u[j][c];
            }
        }
        return new Result(codes, scales, zeros, actOrder ? order : null);
    }

    /** Lower triangular L with a = L Lᵀ. */
    static double[][] cholesky(double[][] a) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) {
                double s = a[i][j];
                for (int k = 0; k < j; k++) s -= l[i][k] * l[j][k];
                l[i][j] = i == j ? Math.sqrt(s) : s / l[j][j];
            }
        return l;
    }

    /** a⁻¹ for symmetric positive definite a, column by column from L y = e, Lᵀ x = y. */
    static double[][] inverse(double[][] a) {
        int n = a.length;
        double[][] l = cholesky(a), inv = new double[n][n];
        for (int c = 0; c < n; c++) {
            double[] y = new double[n];
            for (int i = 0; i < n; i++) {
                double s = i == c ? 1 : 0;
                for (int k = 0; k < i; k++) s -= l[i][k] * y[k];
                y[i] = s / l[i][i];
            }
            for (int i = n - 1; i >= 0; i--) {
                double s = y[i];
                for (int k = i + 1; k < n; k++) s -= l[k][i] * inv[k][c];
                inv[i][c] = s / l[i][i];
            }
        }
        return inv;
    }

    static double[][] transpose(double[][] a) {
        double[][] t = new double[a[0].length][a.length];
        for (int i = 0; i < a.length; i++) for (int j = 0; j < a[0].length; j++) t[j][i] = a[i][j];
        return t;
    }
}
