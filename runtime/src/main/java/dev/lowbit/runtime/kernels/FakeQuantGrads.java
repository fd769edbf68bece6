package dev.lowbit.runtime.kernels;

import dev.lowbit.runtime.tensor.Tensor;

/** Gradients of the fake-quant forward: for the weights [n, k], the scales and the magnitudes [n, k / g]. */
public record FakeQuantGrads(Tensor weights, Tensor scales, Tensor magnitude) {}
