package dev.lowbit.runtime;

/** Gradients of the fake-quant forward: for the weights [n, k], the scales and the magnitudes [n, k / g]. */
public record FakeQuantGrads(Tensor weights, Tensor scales, Tensor magnitude) {}
