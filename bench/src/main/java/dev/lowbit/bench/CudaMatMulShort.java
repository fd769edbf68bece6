package dev.lowbit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * CudaMatMulBench's short mode, for a GPU window of minutes (scripts/gpu-check.sh): W4 g128 dequant-GEMM by
 * both small-M kernels (CUDA cores, Marlin) and the tensor-core kernel, beside cuBLAS GemmEx on fp16 and
 * bf16 weights, per shape and m; the GPU group-quantization of the weights; a tiny kernel's launch and
 * round trip. Each output is first checked against cuBLAS's fp32 product (the CPU would take too long on
 * these shapes); a wrong one is reported, not timed. A sample is `calls` back-to-back calls, then one
 * device synchronization, divided by `calls`; the median of `samples` samples is reported. Writes one JSON
 * object to --out (and stdout).
 */
final class CudaMatMulShort {
    static final Device GPU = Device.cuda(0);

    private CudaMatMulShort() {}

    static void run(String[] args) throws IOException {
        Map<String, String> opt = options(args);
        String[] shapes = opt.getOrDefault("shapes", "8192x8192,8192x28672").split(",");
        int[] ms = Arrays.stream(opt.getOrDefault("m", "1,16,256").split(","))
                .mapToInt(Integer::parseInt)
                .toArray();
        int samples = Integer.parseInt(opt.getOrDefault("samples", "7")),
                calls = Integer.parseInt(opt.getOrDefault("calls", "20"));
        if (!Cuda.available()) throw new LowbitException("no usable GPU: " + Cuda.unavailableReason());
        ObjectMapper json = new ObjectMapper();
        ObjectNode out = json.createObjectNode()
                .put("gpu", Cuda.gpus().get(0).toString())
                .put("samples", samples)
                .put("calls", calls);
        out.put("launch_us", launchMicros(samples, calls));
        ArrayNode results = out.putArray("results");
        for (String shape : shapes) {
            try (Arena arena = Arena.ofShared()) {
                runShape(arena, shape, ms, samples, calls, results);
            }
        }
        String text = json.writerWithDefaultPrettyPrinter().writeValueAsString(out);
        System.out.println(text);
        if (opt.containsKey("out")) Files.writeString(Path.of(opt.get("out")), text);
    }

    private static void runShape(Arena arena, String shape, int[] ms, int samples, int calls, ArrayNode results) {
        int n = Shapes.n(shape), k = Shapes.k(shape);
        Tensor dense = MatMulBench.Problem.random(arena, 42, 0.04f, n, k), denseGpu = dense.to(arena, GPU);
        Tensor denseF16 = dense.convertedTo(arena, DType.F16).to(arena, GPU),
                denseBf16 = dense.convertedTo(arena, DType.BF16).to(arena, GPU);
        QuantSpec spec = QuantSpec.of(4, 128);
        QuantizedTensor weights = Kernels.quantize(arena, denseGpu, spec);
        double quantizeMs = median(samples, 1, () -> Kernels.quantizeInto(denseGpu, spec, weights));
        MarlinWeights marlin = MarlinWeights.repack(arena, weights);
        long weightBytes = Contenders.lowbitWeightBytes(n, k, 4, 128);
        for (int m : ms) {
            Tensor x = MatMulBench.Problem.random(arena, 43, 2f, m, k), xGpu = x.to(arena, GPU);
            Tensor xF16 = x.convertedTo(arena, DType.F16).to(arena, GPU),
                    xBf16 = x.convertedTo(arena, DType.BF16).to(arena, GPU);
            Tensor y = Tensor.allocate(arena, GPU, DType.F32, m, n);
            Kernels.matmul(xGpu, denseGpu.transpose(), y, 1f, 0f);
            float[] reference = y.to(arena, Device.CPU).toFloatArray();
            Map<String, Runnable> contenders = new LinkedHashMap<>();
            contenders.put(m <= 16 ? "lowbit_cuda_core" : "lowbit_tensor_core", () -> {
                MarlinWeights.select(MarlinWeights.CUDA_CORE);
                marlin.gemm(xF16, y);
            });
            if (m <= 16)
                contenders.put("lowbit_marlin", () -> {
                    MarlinWeights.select(MarlinWeights.MARLIN);
                    marlin.gemm(xF16, y);
                });
            contenders.put("cublas_fp16", () -> Kernels.matmul(xF16, denseF16.transpose(), y, 1f, 0f));
            contenders.put("cublas_bf16", () -> Kernels.matmul(xBf16, denseBf16.transpose(), y, 1f, 0f));
            ObjectNode row = results.addObject()
                    .put("shape", shape)
                    .put("n", n)
                    .put("k", k)
                    .put("m", m)
                    .put("group_quantize_ms", quantizeMs)
                    .put("lowbit_weight_bytes", weightBytes);
            for (Map.Entry<String, Runnable> c : contenders.entrySet()) {
                String name = c.getKey();
                ObjectNode r = row.putObject(name);
                try {
                    c.getValue().run();
                    Cuda.synchronize(GPU);
                    double err = relRms(y.to(arena, Device.CPU).toFloatArray(), reference);
                    double tol =
                            name.startsWith("lowbit") ? MatMulBench.tolerance(4) : name.endsWith("bf16") ? 0.02 : 0.01;
                    r.put("rel_rms_error", err).put("tolerance", tol).put("correct", err <= tol);
                    if (!(err <= tol)) continue;
                    double medianMs = median(samples, calls, c.getValue());
                    r.put("median_ms", medianMs);
                    if (name.startsWith("lowbit")) r.put("weight_gb_per_s", weightBytes / (medianMs * 1e6));
                } catch (LowbitException e) {
                    r.put("correct", false).put("error", e.getMessage());
                }
            }
            ratios(row);
        }
    }

    /** cuBLAS fp16's median over each lowbit kernel's: above 1, lowbit is faster. */
    private static void ratios(ObjectNode row) {
        if (!row.path("cublas_fp16").has("median_ms")) return;
        double base = row.get("cublas_fp16").get("median_ms").asDouble();
        for (String name : new String[] {"lowbit_cuda_core", "lowbit_marlin", "lowbit_tensor_core"})
            if (row.path(name).has("median_ms"))
                row.put(
                        "speedup_" + name + "_vs_cublas_fp16",
                        base / row.get(name).get("median_ms").asDouble());
    }

    /** Per-token 8-bit quantization of 1 x 64 and a device synchronization, in microseconds. */
    private static double launchMicros(int samples, int calls) {
        try (Arena arena = Arena.ofShared()) {
            Tensor x = Tensor.of(arena, new float[64], 1, 64).to(arena, GPU);
            QuantizedActivations a = Kernels.quantizeActivations(arena, x, 8);
            return 1000
                    * median(samples, calls, () -> {
                        Kernels.quantizeActivations(x, a);
                        Cuda.synchronize(GPU);
                    });
        }
    }

    /** Median over samples of (calls calls, then a device synchronization) / calls, in milliseconds; one untimed warm-up sample. */
    private static double median(int samples, int calls, Runnable call) {
        double[] t = new double[samples];
        for (int s = -1; s < samples; s++) {
            long t0 = System.nanoTime();
            for (int c = 0; c < calls; c++) call.run();
            Cuda.synchronize(GPU);
            if (s >= 0) t[s] = (System.nanoTime() - t0) / 1e6 / calls;
        }
        Arrays.sort(t);
        return t[samples / 2];
    }

    private static double relRms(float[] out, float[] ref) {
        double err = 0, norm = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = out[i] - ref[i];
            err += d * d;
            norm += (double) ref[i] * ref[i];
        }
        return Math.sqrt(err / norm);
    }

    /** --name value pairs. */
    private static Map<String, String> options(String[] args) {
        Map<String, String> opt = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--"))
                throw new LowbitException("CudaMatMulBench --short: unexpected argument " + args[i]);
            if (args[i].equals("--short")) continue;
            if (i + 1 >= args.length)
                throw new LowbitException("CudaMatMulBench --short: " + args[i] + " needs a value");
            opt.put(args[i].substring(2), args[++i]);
        }
        return opt;
    }
}
