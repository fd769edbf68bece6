package dev.lowbit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.ProcessMemory;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.generate.TextStream;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit generate}: streams a continuation of a prompt, then its timings on stderr. */
@Command(
        name = "generate",
        description = "Generate text (or token ids, for models without a tokenizer) from a prompt; "
                + "load, prompt and decode timings go to stderr.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    SharedOptions.ModelOption model;

    @Mixin
    SharedOptions.DeviceOption device;

    @Mixin
    SharedOptions.JsonOption json;

    @Option(
            names = "--prompt",
            description = "prompt text; for models without a tokenizer, comma-separated token ids (default: BOS)")
    String prompt = "";

    @Option(names = "--max-tokens", description = "tokens to generate (default: ${DEFAULT-VALUE})")
    int maxTokens = 100;

    @Option(names = "--temperature", description = "0 for greedy (default: ${DEFAULT-VALUE})")
    float temperature = 0.8f;

    @Option(names = "--top-p", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})")
    float topP = 0.95f;

    @Option(names = "--seed", description = "sampling seed (default: ${DEFAULT-VALUE})")
    long seed = 42;

    @Option(
            names = "--read-floor",
            description =
                    "after generating, time reading the model's weight bytes once from memory (lb_cpu_read_sum) and"
                            + " report decode against it")
    boolean readFloor;

    @Override
    public Integer call() {
        ProcessMemory.start();
        long[] weightBytes = {0};
        PrintWriter out = spec.commandLine().getOut();
        boolean stream = !json.get();
        ObjectNode result =
                new ObjectMapper().createObjectNode().put("model", model.get()).put("prompt", prompt);
        GenerationTimer timer = new GenerationTimer();
        OptionChecks.atLeast("--max-tokens", maxTokens, 1);
        OptionChecks.above("--temperature", temperature, 0, false);
        OptionChecks.within("--top-p", topP, 0, true, 1);
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded loaded = ModelFiles.open(model.get(), arena);
            Generator generator = new Generator(loaded.model().to(arena, device.get()), loaded.tokenizer());
            weightBytes[0] = loaded.model().weightBytesPerToken();
            timer.loaded();
            int stop = loaded.tokenizer().map(t -> t.specialId("</s>")).orElse(-1);
            Generator.Options options = new Generator.Options(maxTokens, temperature, topP, seed, stop);
            if (loaded.tokenizer().isPresent()) {
                BpeTokenizer tok = loaded.tokenizer().get();
                if (stream) out.print(prompt);
                TextStream text = new TextStream(tok, s -> {
                    if (!stream) return;
                    out.print(s);
                    out.flush();
                });
                int[] ids = generator.promptIds(prompt);
                checkRoom(ids.length, loaded.model().config().maxSeqLen());
                timer.start(ids.length);
                generator.generate(ids, options, token -> {
                    timer.token();
                    text.accept(token);
                });
                timer.stop();
                result.put("text", text.finish());
            } else {
                int[] ids = prompt.isBlank() ? new int[] {1} : parseIds(prompt);
                checkRoom(ids.length, loaded.model().config().maxSeqLen());
                if (stream) out.print(Arrays.toString(ids) + " ->");
                timer.start(ids.length);
                int[] tokens = generator.generate(ids, options, token -> {
                    timer.token();
                    if (!stream) return;
                    out.print(" " + token);
                    out.flush();
                });
                timer.stop();
                result.putPOJO("tokens", tokens);
            }
        }
        result.put("weight_bytes_per_token", weightBytes[0])
                .put("peak_rss_mb", ProcessMemory.peakRssMb())
                .put("peak_anon_mb", ProcessMemory.peakAnonMb());
        if (readFloor) result.put("read_floor_ms", ReadFloorTimer.millis(weightBytes[0]));
        timer.put(result);
        if (stream) out.println();
        else out.println(result);
        timer.print(spec.commandLine().getErr());
        PrintWriter err = spec.commandLine().getErr();
        err.printf(
                "memory:    peak RSS %.0f MB (anonymous %.0f MB); weights read per token %.1f MB%n",
                result.get("peak_rss_mb").asDouble(), result.get("peak_anon_mb").asDouble(), weightBytes[0] / 1e6);
        if (readFloor)
            err.printf(
                    "floor:     reading them takes %.2f ms (%.1f GB/s); decode is %.2fx that%n",
                    result.get("read_floor_ms").asDouble(),
                    weightBytes[0] / 1e6 / result.get("read_floor_ms").asDouble(),
                    result.path("decode_ms").asDouble(Double.NaN)
                            / Math.max(1, result.path("decode_tokens").asInt())
                            / result.get("read_floor_ms").asDouble());
        return 0;
    }

    /** The prompt and --max-tokens within the model's context: refused, not cut short. */
    private void checkRoom(int promptTokens, int context) {
        if ((long) promptTokens + maxTokens > context)
            throw new LowbitException("--max-tokens " + maxTokens + " with the " + promptTokens
                    + "-token prompt exceeds the model's context of " + context + " tokens: give --max-tokens "
                    + (context > promptTokens ? "at most " + (context - promptTokens) : "with a shorter prompt"));
    }

    private static int[] parseIds(String text) {
        try {
            return Arrays.stream(text.split(","))
                    .map(String::trim)
                    .mapToInt(Integer::parseInt)
                    .toArray();
        } catch (NumberFormatException e) {
            throw new LowbitException(
                    "this model has no tokenizer: give --prompt as comma-separated token ids, e.g. 1,403,13");
        }
    }
}
