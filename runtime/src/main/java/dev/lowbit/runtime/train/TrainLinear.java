package dev.lowbit.runtime.train;

import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.tensor.Tensor;

/**
 * A block linear as a training pass sees it: dense fp32 here, quantized with low-rank adapters
 * in QLLM's error correction. The block saves each linear's input; backward gets it back.
 */
public interface TrainLinear {
    /** y = op(x). */
    void forward(Tensor x, Tensor y);

    /** dx = beta * dx + the input gradient of dy (beta 0 or 1), accumulating the layer's own parameter gradients. */
    void backward(Tensor x, Tensor dy, Tensor dx, float beta);

    /** y = x . W^T; grad (null when W is frozen) accumulates dy^T x. */
    record Dense(Tensor weight, Tensor grad) implements TrainLinear {
        @Override
        public void forward(Tensor x, Tensor y) {
            Kernels.matmul(x, weight.transpose(), y, 1f, 0f);
        }

        @Override
        public void backward(Tensor x, Tensor dy, Tensor dx, float beta) {
            if (grad != null) Kernels.matmul(dy.transpose(), x, grad, 1f, 1f);
            Kernels.matmul(dy, weight, dx, 1f, beta);
        }
    }
}
