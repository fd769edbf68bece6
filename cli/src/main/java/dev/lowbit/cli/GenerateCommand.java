package dev.lowbit.cli;

import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.io.ModelFiles;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit generate}: streams a continuation of a prompt. */
@Command(name = "generate", description = "Generate text (or token ids, for models without a tokenizer) from a prompt.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "\"default\", a Hugging Face folder or a llama2.c .bin (default: ${DEFAULT-VALUE})")
    String model = "default";

    @Option(names = "--prompt", description = "prompt text; for models without a tokenizer, comma-separated token ids (default: BOS)")
    String prompt = "";

    @Option(names = "--max-tokens", description = "tokens to generate (default: ${DEFAULT-VALUE})")
    int maxTokens = 100;

    @Option(names = "--temperature", description = "0 for greedy (default: ${DEFAULT-VALUE})")
    float temperature = 0.8f;

    @Option(names = "--top-p", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})")
    float topP = 0.95f;

    @Option(names = "--seed", description = "sampling seed (default: ${DEFAULT-VALUE})")
    long seed = 42;

    @Option(names = "--device", description = "cpu, cuda or cuda:N: where the model runs (default: ${DEFAULT-VALUE})")
    String device = "cpu";

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (Arena arena = Arena.ofShared()) {
            Device target = Device.parse(device);
            ModelFiles.Loaded loaded = ModelFiles.open(model, arena);
            Generator generator = new Generator(loaded.model().to(arena, target), loaded.tokenizer());
            int stop = loaded.tokenizer().map(t -> t.specialId("</s>")).orElse(-1);
            Generator.Options options = new Generator.Options(maxTokens, temperature, topP, seed, stop);
            if (loaded.tokenizer().isPresent()) {
                out.print(prompt);
                generator.generate(prompt, options, text -> {
                    out.print(text);
                    out.flush();
                });
            } else {
                int[] ids = prompt.isBlank() ? new int[] {1} : parseIds(prompt);
                out.print(Arrays.toString(ids) + " ->");
                generator.generate(ids, options, token -> {
                    out.print(" " + token);
                    out.flush();
                });
            }
            out.println();
        }
        return 0;
    }

    private static int[] parseIds(String text) {
        try {
            return Arrays.stream(text.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new LowbitException("this model has no tokenizer: give --prompt as comma-separated token ids, e.g. 1,403,13");
        }
    }
}
