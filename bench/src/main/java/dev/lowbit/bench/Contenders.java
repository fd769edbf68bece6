package dev.lowbit.bench;

import dev.lowbit.runtime.tensor.QuantizedTensor;
import java.util.Map;

/**
 * What each benchmark method is: its display name, weight format (bits, group) and the bytes one
 * call reads, from the JMH benchmark name and its parameters.
 */
final class Contenders {
    private Contenders() {}

    /** A JMH result as a {@link Result}; method is the benchmark method's simple name. */
    static Result describe(String method, Map<String, String> params, double medianMs, double minMs, double maxMs) {
        String shape = params.getOrDefault("shape", "");
        int m = Integer.parseInt(params.getOrDefault("m", "0"));
        long n = shape.isEmpty() ? 0 : Shapes.n(shape), k = shape.isEmpty() ? 0 : Shapes.k(shape);
        int bits = Integer.parseInt(params.getOrDefault("bits", "0")),
                group = Integer.parseInt(params.getOrDefault("group", "0"));
        String name = method, suite;
        long bytes;
        switch (method) {
            case "lowbitDequantGemm", "lowbitW4A8" -> {
                suite = "matmul";
                bytes = lowbitWeightBytes(n, k, bits, group);
            }
            case "cudaDequantGemm", "cudaMarlin", "cudaW4A8", "readFloor" -> { // W4 g128 fixed: no weight parameters
                suite = method.equals("readFloor") ? "matmul" : "matmul-gpu";
                bits = 4;
                group = 128;
                bytes = lowbitWeightBytes(n, k, bits, group);
            }
            case "cublasFp16", "cublasBf16" -> {
                suite = "matmul-gpu";
                bits = 16;
                group = 0;
                bytes = n * k * 2;
            }
            case "openblasDense" -> {
                suite = "matmul";
                bits = 32;
                group = 0;
                bytes = n * k * 4;
            }
            case "ggml" -> {
                suite = "matmul";
                String type = params.get("ggmlType");
                name = "ggml" + type;
                // block layouts: Q4_0 = fp16 scale + 32 nibbles, Q8_0 = fp16 scale + 32 bytes, Q4_K = 256 values in 144
                // bytes
                int[] f = switch (type) {
                    case "Q4_0", "Q4_0x8" -> new int[] {4, 32, 18};
                    case "Q8_0" -> new int[] {8, 32, 34};
                    case "Q4_K" -> new int[] {4, 256, 144};
                    default -> throw new IllegalArgumentException("unknown ggml type " + type);
                };
                bits = f[0];
                group = f[1];
                bytes = n * k / f[1] * f[2];
            }
            case "jlamaQ4" -> {
                suite = "matmul";
                bits = 4;
                group = 32;
                bytes = n * k / 2 + n * k / 32 * 4;
            }
            case "groupQuantize" -> {
                suite = "quantize";
                bytes = n * k * 4;
            }
            case "activationQuantize" -> {
                suite = "quantize";
                bits = 8; // per-token int8; the weight parameters do not apply
                group = 0;
                bytes = (long) m * k * 4;
            }
            default -> {
                suite = "ffm";
                bytes = 0;
            }
        }
        return new Result(name, suite, shape, m, bits, group, medianMs, minMs, maxMs, bytes);
    }

    /** Bytes of lowbit's quantized weights: the packed codes and fp32 scales and zeros per group. */
    static long lowbitWeightBytes(long n, long k, int bits, int group) {
        return n * QuantizedTensor.wordsPerRow(k, bits) * 4 + 2 * n * (k / group) * 4;
    }
}
