package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The LLaMA forward pass on a GPU against the same model on the CPU (JUnit tag gpu; skipped with the
 * reason where no GPU can be used): a 20-token prefill (the GEMMs' tensor-core paths) and two decode
 * steps (the one-pass kernels) through the KV cache, for full-precision, W4 and W4A8 linears, and
 * greedy generation.
 * Logits must agree within tol of the largest |logit|: 1e-4 where every product is fp32, 2e-2 where
 * the prefill's dequant-GEMM rounds to TF32 or a rounding difference can move an activation code.
 */
@Tag("gpu")
class CudaModelTest {
    static final LlamaConfig SMALL = new LlamaConfig(64, 128, 2, 4, 2, 50, 40, 1e-5f, 10000f, false);

    @BeforeEach
    void needsGpu() {
        Assumptions.assumeTrue(Cuda.available(), () -> "no usable GPU here: " + Cuda.unavailableReason());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"FP32,1e-4", "W4,2e-2", "W4A8,2e-2"})
    void theModelOnAGpuGivesTheCpuLogits(String linears, double tol) {
        int[] prompt = new int[20];
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 7 + 3) % SMALL.vocabSize();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel cpu = new LlamaModel(
                    LlamaModelTest.randomWeights(arena, SMALL, 41), (layer, name, w) -> switch (linears) {
                        case "W4" -> new Linear.Quantized(Kernels.quantize(arena, w, QuantSpec.of(4, 32)));
                        case "W4A8" -> new Linear.ActQuantized(Kernels.quantize(arena, w, QuantSpec.of(4, 32)), 8);
                        default -> new Linear.Dense(w);
                    });
            LlamaModel gpu = cpu.to(arena, Device.cuda(0));
            assertEquals(Device.cuda(0), gpu.device());
            KvCache cpuCache = cpu.newCache(arena), gpuCache = gpu.newCache(arena);
            compare(
                    cpu.forward(arena, prompt, cpuCache),
                    gpu.forward(arena, prompt, gpuCache),
                    tol,
                    linears + " prefill");
            for (int token : new int[] {5, 17})
                compare(
                        cpu.forward(arena, new int[] {token}, cpuCache),
                        gpu.forward(arena, new int[] {token}, gpuCache),
                        tol,
                        linears + " decode of " + token);
            assertEquals(prompt.length + 2, gpuCache.length());
        }
    }

    @Test
    void greedyGenerationOnAGpuGivesTheCpuTokens() {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel cpu = new LlamaModel(LlamaModelTest.randomWeights(arena, SMALL, 43));
            Generator.Options greedy = new Generator.Options(12, 0f, 1f, 1, -1);
            int[] prompt = {1, 9, 30};
            int[] want = new Generator(cpu, Optional.empty()).generate(prompt, greedy, null);
            int[] got = new Generator(cpu.to(arena, Device.cuda(0)), Optional.empty()).generate(prompt, greedy, null);
            assertArrayEquals(want, got, "greedy continuation on cuda:0");
        }
    }

    private static void compare(Tensor cpu, Tensor gpu, double tol, String what) {
        assertEquals(Device.cuda(0), gpu.device(), what + ": logits on the model's device");
        float[] want = cpu.toFloatArray(),
                got = gpu.to(Arena.ofAuto(), Device.CPU).toFloatArray();
        double scale = 0;
        for (float w : want) scale = Math.max(scale, Math.abs(w));
        for (int i = 0; i < want.length; i++)
            assertTrue(
                    Math.abs(want[i] - got[i]) <= tol * scale,
                    what + ": logit " + i + " is " + got[i] + ", CPU " + want[i] + " (largest |logit| " + scale + ")"
                            + (i == 0 ? "" : "; first ones " + Arrays.toString(Arrays.copyOf(got, 4))));
    }
}
