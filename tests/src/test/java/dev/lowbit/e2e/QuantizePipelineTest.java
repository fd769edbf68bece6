package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.methods.quant.QuantMethod;
import dev.lowbit.methods.quant.QuantizePipeline;
import dev.lowbit.methods.quant.QuantizeRequest;
import dev.lowbit.runtime.tensor.QuantSpec;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The quantization pipeline as a Java user calls it, without the CLI, and the same run through `lowbit quantize`. */
class QuantizePipelineTest {
    @Test
    void theLibraryWritesWhatTheCliWrites(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(CliModelTest.STORIES), "stories260K.bin not found at " + CliModelTest.STORIES);
        Path lib = dir.resolve("lib"), cli = dir.resolve("cli");
        QuantizeRequest request = QuantizeRequest.builder(CliModelTest.STORIES.toString(), lib)
                .wbits(4)
                .abits(8)
                .seqLen(32)
                .build();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream progress = new PrintStream(log, true, StandardCharsets.UTF_8);
        QuantizePipeline.Result r =
                new QuantizePipeline(request, progress).run().orElseThrow();
        assertTrue(
                log.toString(StandardCharsets.UTF_8)
                        .contains(
                                "quantizing " + CliModelTest.STORIES + " with rtn: 4-bit weights, "
                                        + "group per-channel, minmax ranges; activations 8-bit per token (and q/k/v per head), integer kernels"),
                log.toString());
        assertEquals(new ObjectMapper().readTree(lib.resolve("metrics.json").toFile()), r.json());
        assertTrue(Files.isRegularFile(lib.resolve("model.safetensors")));
        assertEquals("integer", r.json().get("activation_kernel").asText());
        assertEquals(8, r.json().get("qkv_bits").asInt());
        assertTrue(r.metrics().klToFp() > 0);

        CliModelTest.Result c = CliModelTest.run(
                "quantize",
                "--wbits",
                "4",
                "--abits",
                "8",
                "--model",
                CliModelTest.STORIES.toString(),
                "--out",
                cli.toString(),
                "--seq-len",
                "32",
                "--json");
        assertEquals(0, c.code(), c.err());
        JsonNode j = new ObjectMapper().readTree(c.out());
        assertEquals(r.metrics().klToFp(), j.get("kl_to_fp").asDouble(), 0, "the same model as the CLI's");
        assertEquals(r.json().get("group"), j.get("group"));
    }

    @Test
    void refusalsNameTheirRuleAndQuoteNoFlags() {
        Path out = Path.of("unused");
        QuantizeRequest.Invalid e = assertThrows(
                QuantizeRequest.Invalid.class,
                () -> QuantizeRequest.builder("default", out)
                        .method(QuantMethod.DLQAT)
                        .abits(8)
                        .build());
        assertEquals(QuantizeRequest.Rule.DLQAT_ACTIVATIONS, e.rule());
        e = assertThrows(
                QuantizeRequest.Invalid.class,
                () -> QuantizeRequest.builder("default", out)
                        .method(QuantMethod.QLLM)
                        .build());
        assertEquals(QuantizeRequest.Rule.NEEDS_ACTIVATIONS, e.rule());
        assertEquals("qllm quantizes activations; choose 4, 6 or 8 activation bits", e.getMessage());
        e = assertThrows(
                QuantizeRequest.Invalid.class,
                () -> QuantizeRequest.builder("default", out)
                        .abits(8)
                        .gptq(true)
                        .build());
        assertEquals(QuantizeRequest.Rule.GPTQ_ACTIVATIONS, e.rule());
        e = assertThrows(
                QuantizeRequest.Invalid.class,
                () -> QuantizeRequest.builder("default", out)
                        .method(QuantMethod.SMOOTHQUANT)
                        .abits(8)
                        .symmetric(true)
                        .build());
        assertEquals(QuantizeRequest.Rule.MINMAX_RANGES, e.rule());
        assertTrue(!e.getMessage().contains("--"), e.getMessage());
    }

    @Test
    void unsetSettingsTakeTheMethodsDefaults() {
        Path out = Path.of("unused");
        QuantizeRequest qllm = QuantizeRequest.builder("default", out)
                .method(QuantMethod.QLLM)
                .abits(4)
                .build();
        assertEquals(4, qllm.rank());
        assertEquals(5e-3f, qllm.lr());
        assertEquals(QuantSpec.PER_CHANNEL, qllm.group(), "per-channel with quantized activations");
        QuantizeRequest dlqat = QuantizeRequest.builder("default", out)
                .method(QuantMethod.DLQAT)
                .build();
        assertEquals(8, dlqat.rank());
        assertEquals(2e-3f, dlqat.dlqatConfig().lrLora());
        assertEquals(128, dlqat.group(), "groups of 128 for weights only");
        assertEquals(
                2,
                QuantizeRequest.builder("default", out)
                        .method(QuantMethod.DLQAT)
                        .rank(2)
                        .build()
                        .dlqatConfig()
                        .rank());
    }
}
