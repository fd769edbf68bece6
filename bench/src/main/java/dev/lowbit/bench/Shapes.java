package dev.lowbit.bench;

import dev.lowbit.runtime.LowbitException;

/** "NxK" benchmark parameters: N output features by K input features. */
final class Shapes {
    /** The largest N and K taken: the fp32 reference weights of 65536 x 65536 alone are 16 GiB. */
    static final int MAX_DIM = 65536;

    /** K is a multiple of this: the W4 g128 contenders and ggml's Q4_K blocks of 256. */
    static final int K_MULTIPLE = 256;

    private Shapes() {}

    /** Refuses a shape that is not NxK with 1 <= N <= MAX_DIM and K a multiple of K_MULTIPLE up to MAX_DIM. */
    static void check(String shape) {
        if (!shape.matches("\\d{1,9}x\\d{1,9}"))
            throw new LowbitException(
                    "--shapes '" + shape + "' is not N x K: give e.g. 4096x4096 (output x input features)");
        int n = n(shape), k = k(shape);
        if (n < 1 || n > MAX_DIM || k < K_MULTIPLE || k > MAX_DIM || k % K_MULTIPLE != 0)
            throw new LowbitException("--shapes " + shape + " is out of range: give N from 1 to " + MAX_DIM
                    + " and K a multiple of " + K_MULTIPLE + " up to " + MAX_DIM);
    }

    /** Refuses an M (rows of activations) outside 1 ... 4096. */
    static void checkM(int m) {
        if (m < 1 || m > 4096) throw new LowbitException("--m " + m + " is out of range: give 1 to 4096");
    }

    static int n(String shape) {
        return Integer.parseInt(shape.substring(0, shape.indexOf('x')));
    }

    static int k(String shape) {
        return Integer.parseInt(shape.substring(shape.indexOf('x') + 1));
    }
}
