package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.Device;
import java.lang.foreign.Arena;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Decoding on a GPU allocates nothing after the first token (JUnit tag gpu; skipped with the reason
 * where no GPU can be used), and greedy decoding through the GPU's state gives the CPU's tokens.
 */
@Tag("gpu")
class CudaDecodeAllocationTest {
    @BeforeEach
    void needsGpu() {
        Assumptions.assumeTrue(Cuda.available(), () -> "no usable GPU here: " + Cuda.unavailableReason());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = TestModels.Kind.class,
            names = {"FP32", "W4", "W4A8", "REASSEMBLED_W4A8"})
    void generationOnAGpuAllocatesNothingPerToken(TestModels.Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel cpu = TestModels.random(arena, DecodeStateTest.SMALL, 13, kind),
                    gpu = cpu.to(arena, Device.cuda(0));
            DecodeAllocationTest.assertNoAllocationAfterTheFirstToken(gpu, kind + " on cuda:0");
            Generator.Options greedy = new Generator.Options(8, 0f, 1f, 1, -1);
            int[] prompt = {1, 9, 4};
            assertArrayEquals(
                    new Generator(cpu, Optional.empty()).generate(prompt, greedy, null),
                    new Generator(gpu, Optional.empty()).generate(prompt, greedy, null),
                    kind + ": greedy tokens on cuda:0");
        }
    }
}
