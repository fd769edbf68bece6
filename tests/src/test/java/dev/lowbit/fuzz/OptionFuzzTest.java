package dev.lowbit.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.cli.LowbitCli;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Random option sets for the CLI's commands, in process, on tiny models: each run ends with exit
 * code 0, 1 (bad input), 2 (usage) or 3 (I/O), never 4 (internal); a failure is one line on
 * stderr without a trace; and a failed quantize or pretrain leaves nothing where --out pointed.
 */
class OptionFuzzTest {
    private static final String[] INTS = {
        "0",
        "-1",
        "1",
        "2",
        "3",
        "16",
        "31",
        "32",
        "33",
        "255",
        "100000000",
        "2147483647",
        "-2147483648",
        "2147483648",
        "x",
        "",
        "1.5"
    };
    private static final String[] FLOATS = {
        "0", "0.8", "1", "-1", "NaN", "Infinity", "-Infinity", "1e30", "1e-45", "abc", "0.95"
    };
    private static final Map<String, String[]> VALUES = Map.ofEntries(
            Map.entry("--max-tokens", INTS),
            Map.entry("--max-windows", INTS),
            Map.entry("--kl-sequences", INTS),
            Map.entry("--task-limit", INTS),
            Map.entry("--seq-len", INTS),
            Map.entry("--eval-windows", INTS),
            Map.entry("--steps", INTS),
            Map.entry("--rank", INTS),
            Map.entry("--batch", INTS),
            Map.entry("--wbits", INTS),
            Map.entry("--abits", INTS),
            Map.entry("--group", INTS),
            Map.entry("--grad-accum", INTS),
            Map.entry("--dim", INTS),
            Map.entry("--heads", INTS),
            Map.entry("--vocab", INTS),
            Map.entry("--checkpoint-every", INTS),
            Map.entry("--calib-samples", INTS),
            Map.entry("--seed", INTS),
            Map.entry("--temperature", FLOATS),
            Map.entry("--top-p", FLOATS),
            Map.entry("--lr", FLOATS),
            Map.entry("--alpha", FLOATS),
            Map.entry("--kl-weight", FLOATS),
            Map.entry("--device", new String[] {"cpu", "cuda", "cuda:7", "tpu", "", "cuda:-1"}),
            Map.entry("--method", new String[] {"rtn", "dlqat", "qllm", "smoothquant", "gptq", ""}),
            Map.entry("--range", new String[] {"minmax", "mse", "MSE", "best"}),
            Map.entry("--prompt", new String[] {"", "It is", "1,2,3", "-5", "999999", "1,,2", "\u00e9\u0000"}));
    private static final Map<String, List<String>> OPTIONS = Map.of(
            "generate", List.of("--max-tokens", "--temperature", "--top-p", "--seed", "--device", "--prompt"),
            "eval", List.of("--max-windows", "--kl-sequences", "--task-limit", "--seq-len", "--device"),
            "quantize",
                    List.of(
                            "--wbits",
                            "--abits",
                            "--group",
                            "--seq-len",
                            "--eval-windows",
                            "--steps",
                            "--rank",
                            "--lr",
                            "--batch",
                            "--alpha",
                            "--kl-weight",
                            "--checkpoint-every",
                            "--calib-samples",
                            "--method",
                            "--range"),
            "pretrain",
                    List.of("--steps", "--batch", "--seq-len", "--lr", "--grad-accum", "--dim", "--heads", "--vocab"));
    private static final List<String> COMMANDS = List.of("generate", "eval", "quantize", "pretrain");

    private static final AtomicInteger CASES = new AtomicInteger();
    private static TinyModels seeds;
    private static Path emptyData, emptyFile, tasks;

    @BeforeAll
    static void writeSeeds() throws IOException {
        seeds = new TinyModels();
        emptyData = Files.createDirectories(seeds.root.resolve("no-data"));
        emptyFile = Files.createFile(seeds.root.resolve("empty.jsonl"));
        tasks = Files.writeString(
                seeds.root.resolve("tasks.jsonl"),
                "{\"ctx\": \"It is a truth\", \"endings\": [\" universally\", \" rarely\"], \"label\": 0}\n");
    }

    @AfterAll
    static void report() throws IOException {
        Outcomes.print("options");
        seeds.delete();
    }

    record Case(int command, List<Integer> options, List<Integer> values, int model, int flags) {}

    /** A command, 0-5 options with 0-5 value picks, a model (or non-model) and flags adding optional inputs. */
    private static Case draw(SplittableRandom r) {
        return new Case(
                r.nextInt(COMMANDS.size()),
                Mutations.list(r, 0, 5, () -> Mutations.natural(r)),
                Mutations.list(r, 0, 5, () -> Mutations.natural(r)),
                r.nextInt(5),
                r.nextInt(16));
    }

    @Test
    void randomOptionSetsEndInOneLineAndLeaveNothingBehind() {
        SeededCases.run("options", 2106, 2_000, OptionFuzzTest::draw, OptionFuzzTest::check);
    }

    private static void check(Case c) throws IOException {
        String command = COMMANDS.get(c.command());
        Path outParent = Files.createDirectories(seeds.root.resolve("out-" + CASES.incrementAndGet()));
        Path out = outParent.resolve("out");
        List<String> args = new ArrayList<>(List.of(command));
        List<String> names = OPTIONS.get(command);
        for (int i = 0; i < c.options().size(); i++) {
            String name = names.get(c.options().get(i) % names.size());
            String[] values = VALUES.get(name);
            args.add(name);
            args.add(values[(i < c.values().size() ? c.values().get(i) : 0) % values.length]);
        }
        Path[] models = {seeds.hf, seeds.quantized, seeds.llama2c, seeds.root.resolve("absent"), seeds.text};
        Path model = models[c.model()];
        switch (command) {
            case "generate" -> args.addAll(List.of("--model", model.toString()));
            case "eval" -> {
                args.addAll(List.of("--model", model.toString(), "--text", seeds.text.toString()));
                if ((c.flags() & 1) != 0) args.addAll(List.of("--reference", seeds.hf.toString()));
                if ((c.flags() & 2) != 0)
                    args.addAll(List.of("--tasks", ((c.flags() & 4) != 0 ? tasks : emptyFile).toString()));
                if ((c.flags() & 8) != 0) args.add("--heldout-tasks");
            }
            // quantize: a model it must refuse (quantized, missing, not a model) after its option checks, so no
            // case starts a real run; pretrain: a data folder without the novels, for the same reason
            case "quantize" ->
                args.addAll(List.of(
                        "--model", models[new int[] {1, 3, 4}[c.model() % 3]].toString(), "--out", out.toString()));
            default -> args.addAll(List.of("--data", emptyData.toString(), "--out", out.toString()));
        }
        if ((c.flags() & 8) != 0 && !command.equals("eval")) args.add("--json");
        Outcomes.check("options", () -> {
            int[] code = new int[1];
            String err = capture(args, code);
            assertTrue(code[0] >= 0 && code[0] <= 3, "exit " + code[0] + " for " + args + ":\n" + err);
            if (code[0] != 0) {
                List<String> lines = err.lines()
                        .filter(l -> !l.isBlank() && !l.startsWith("WARNING:"))
                        .toList();
                assertFalse(lines.isEmpty(), "a failure says why: " + args);
                String last = lines.getLast();
                assertTrue(last.startsWith("lowbit "), "the failure's line: " + last + " for " + args);
                assertFalse(err.contains("\tat ") || err.contains("Exception"), "no trace for " + args + ":\n" + err);
                try (Stream<Path> left = Files.list(outParent)) {
                    List<Path> l = left.toList();
                    if (!l.isEmpty()) Outcomes.count("options", "left behind");
                    assertEquals(List.of(), l, "nothing left beside --out for " + args);
                }
            }
            try (Stream<Path> left = Files.list(outParent)) {
                assertEquals(List.of(), left.toList(), "exit " + code[0] + " and output written for " + args);
            }
            Files.delete(outParent); // these commands never may succeed (see above)
            return code[0] != 0;
        });
    }

    /** Runs the CLI with stdout and stderr captured; returns stderr. */
    private static String capture(List<String> args, int[] code) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(OutputStreamNull.INSTANCE, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            code[0] = LowbitCli.run(args.toArray(String[]::new));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return err.toString(StandardCharsets.UTF_8);
    }

    private static final class OutputStreamNull extends java.io.OutputStream {
        static final OutputStreamNull INSTANCE = new OutputStreamNull();

        @Override
        public void write(int b) {}

        @Override
        public void write(byte[] b, int off, int len) {}
    }
}
