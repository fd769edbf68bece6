package dev.lowbit.runtime.ref;

import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.Tensor;

/**
 * Plain-Java, double-precision LLaMA forward (llama2.c's semantics), written independently of
 * the kernels: the reference the model and the element-wise kernels are compared with.
 */
public final class LlamaRef {
    private LlamaRef() {}

    public static double[] rmsNorm(double[] x, float[] w, double eps) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double r = 1 / Math.sqrt(ss / x.length + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * r * w[i];
        return y;
    }

    /** Rotates the pairs (2i, 2i+1) of each head of x at position pos. */
    public static void rope(double[] x, int headDim, int pos, double theta) {
        for (int h = 0; h < x.length / headDim; h++)
            for (int i = 0; i < headDim; i += 2) {
                double angle = pos * Math.pow(theta, -(double) i / headDim);
                double a = x[h * headDim + i], b = x[h * headDim + i + 1];
                x[h * headDim + i] = a * Math.cos(angle) - b * Math.sin(angle);
                x[h * headDim + i + 1] = a * Math.sin(angle) + b * Math.cos(angle);
            }
    }

    /** Causal attention of one query row q at position pos over keys/values of positions 0..pos. */
    public static double[] attention(double[] q, double[][] keys, double[][] values, int pos, int heads, int kvHeads) {
        int hd = q.length / heads;
        double[] out = new double[q.length];
        for (int h = 0; h < heads; h++) {
            int kvh = h / (heads / kvHeads);
            double[] s = new double[pos + 1];
            double mx = Double.NEGATIVE_INFINITY;
            for (int t = 0; t <= pos; t++) {
                double dot = 0;
                for (int j = 0; j < hd; j++) dot += q[h * hd + j] * keys[t][kvh * hd + j];
                s[t] = dot / Math.sqrt(hd);
                mx = Math.max(mx, s[t]);
            }
            double sum = 0;
            for (int t = 0; t <= pos; t++) sum += s[t] = Math.exp(s[t] - mx);
            for (int t = 0; t <= pos; t++)
                for (int j = 0; j < hd; j++) out[h * hd + j] += s[t] / sum * values[t][kvh * hd + j];
        }
        return out;
    }

    public static double silu(double g) {
        return g / (1 + Math.exp(-g));
    }

    /** y = W x for W [out][in] given row-major as float[out * in]. */
    public static double[] matVec(float[] w, double[] x) {
        double[] y = new double[w.length / x.length];
        for (int o = 0; o < y.length; o++) {
            double acc = 0;
            for (int i = 0; i < x.length; i++) acc += w[o * x.length + i] * x[i];
            y[o] = acc;
        }
        return y;
    }

    public static double[] logSoftmax(double[] x) {
        double mx = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : x) mx = Math.max(mx, v);
        for (double v : x) sum += Math.exp(v - mx);
        double lse = mx + Math.log(sum);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] - lse;
        return out;
    }

    /** Reference logits [position][vocab] of every position of tokens, computed from scratch. */
    public static double[][] forward(LlamaWeights w, int[] tokens) {
        LlamaConfig c = w.config();
        double[][][] keys = new double[c.layers()][tokens.length][], values = new double[c.layers()][tokens.length][];
        double[][] logits = new double[tokens.length][];
        for (int pos = 0; pos < tokens.length; pos++) {
            double[] x = new double[c.dim()];
            float[] emb = w.tokenEmbedding().toFloatArray();
            for (int j = 0; j < c.dim(); j++) x[j] = emb[tokens[pos] * c.dim() + j];
            for (int l = 0; l < c.layers(); l++) {
                LlamaWeights.Layer L = w.layers().get(l);
                Projections<Tensor> lin = L.linears();
                double[] xb = rmsNorm(x, L.attentionNorm().toFloatArray(), c.normEps());
                double[] q = matVec(lin.q().toFloatArray(), xb),
                        k = matVec(lin.k().toFloatArray(), xb);
                rope(q, c.headDim(), pos, c.ropeTheta());
                rope(k, c.headDim(), pos, c.ropeTheta());
                keys[l][pos] = k;
                values[l][pos] = matVec(lin.v().toFloatArray(), xb);
                double[] att = attention(q, keys[l], values[l], pos, c.heads(), c.kvHeads());
                double[] o = matVec(lin.o().toFloatArray(), att);
                for (int j = 0; j < c.dim(); j++) x[j] += o[j];
                xb = rmsNorm(x, L.ffnNorm().toFloatArray(), c.normEps());
                double[] g = matVec(lin.gate().toFloatArray(), xb),
                        u = matVec(lin.up().toFloatArray(), xb);
                for (int j = 0; j < g.length; j++) g[j] = silu(g[j]) * u[j];
                double[] d = matVec(lin.down().toFloatArray(), g);
                for (int j = 0; j < c.dim(); j++) x[j] += d[j];
            }
            logits[pos] =
                    matVec(w.output().toFloatArray(), rmsNorm(x, w.finalNorm().toFloatArray(), c.normEps()));
        }
        return logits;
    }
}
