package dev.lowbit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.methods.Progress;
import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.McItem;
import dev.lowbit.methods.eval.McTasks;
import dev.lowbit.methods.eval.ModelSamples;
import dev.lowbit.methods.eval.MultipleChoice;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.ProcessMemory;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit eval}: perplexity on text, and KL divergence / top-1 agreement to a reference model. */
@Command(
        name = "eval",
        description = "Perplexity on held-out text; with --reference, KL divergence and top-1 agreement to that model.")
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    SharedOptions.ModelOption model;

    @Mixin
    SharedOptions.DataOption data;

    @Mixin
    SharedOptions.SeqLenOption seqLen = new SharedOptions.SeqLenOption(128);

    @Mixin
    SharedOptions.DeviceOption device;

    @Mixin
    SharedOptions.JsonOption json;

    @Option(names = "--text", description = "text file to score (default: the held-out austen-persuasion.txt)")
    Path text;

    @Option(names = "--reference", description = "model to compare with (KL divergence and top-1 agreement)")
    String reference;

    @Option(
            names = "--max-windows",
            description = "score at most this many windows, 0 for all (default: ${DEFAULT-VALUE})")
    int maxWindows = 0;

    @Option(
            names = "--kl-sequences",
            description =
                    "sequences for KL when there is no tokenizer (sampled from the reference; default: ${DEFAULT-VALUE})")
    int klSequences = 16;

    @Option(
            names = "--tasks",
            description = "multiple-choice jsonl files (HellaSwag, PIQA, ARC, WinoGrande, BoolQ formats)")
    List<Path> tasks = new ArrayList<>();

    @Option(
            names = "--heldout-tasks",
            description = "also run last-word prediction and true-next-sentence-among-four on the text")
    boolean heldoutTasks;

    @Option(names = "--task-limit", description = "items per task at most (default: ${DEFAULT-VALUE})")
    int taskLimit = 200;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        ProcessMemory.start();
        PrintWriter out = spec.commandLine().getOut();
        ObjectNode result = new ObjectMapper().createObjectNode().put("model", model.get());
        checkOptions();
        try (Arena arena = Arena.ofShared()) {
            Device target = device.get();
            ModelFiles.Loaded m = ModelFiles.open(model.get(), arena);
            if (m.tokenizer().isEmpty() && reference == null)
                throw new LowbitException(model.get() + " has no tokenizer, so there is no text to score: "
                        + "compare it with a reference model instead (--reference MODEL)");
            List<List<McItem>> taskItems = new ArrayList<>();
            if (m.tokenizer().isPresent()) for (Path file : tasks) taskItems.add(nonEmpty(file, McTasks.load(file)));
            LlamaModel lm = m.model().to(arena, target);
            int[] tokens = null;
            if (m.tokenizer().isPresent()) {
                Path file = text != null
                        ? text
                        : Corpus.locate(data.get(), ProjectHome.get()).resolve(Corpus.HELD_OUT);
                tokens = m.tokenizer().get().encode(Corpus.read(file));
                int limit = maxWindows > 0 ? maxWindows : Integer.MAX_VALUE;
                long forward0 = System.nanoTime();
                Perplexity.Result p = Perplexity.evaluate(
                        lm,
                        tokens,
                        seqLen.get(),
                        limit,
                        Progress.windows(System.err, "perplexity", Perplexity.windows(tokens, seqLen.get(), limit)));
                double forwardSeconds = (System.nanoTime() - forward0) / 1e9;
                result.put("text", file.toString())
                        .put("perplexity", p.perplexity())
                        .put("mean_nll", p.meanNll())
                        .put("tokens_scored", p.tokensScored())
                        .put("seq_len", p.seqLen())
                        .put("stride", p.stride())
                        .put("forward_tokens_per_s", p.tokensScored() / forwardSeconds);
                if (!json.get())
                    out.printf(
                            "perplexity %.3f on %s (%,d tokens scored, sequence length %d, stride %d; %,.0f tokens/s)%n",
                            p.perplexity(),
                            file,
                            p.tokensScored(),
                            p.seqLen(),
                            p.stride(),
                            p.tokensScored() / forwardSeconds);
                runTasks(lm, m.tokenizer().get(), Corpus.read(file), taskItems, result, out);
            } else if (text != null || !tasks.isEmpty() || heldoutTasks) {
                throw new LowbitException(model.get()
                        + " has no tokenizer, so it cannot score text or tasks; compare it with --reference instead");
            }
            if (reference != null) {
                LlamaModel ref = ModelFiles.open(reference, arena).model().to(arena, target);
                List<int[]> sequences = tokens != null
                        ? windows(tokens, maxWindows > 0 ? maxWindows : 32)
                        : ModelSamples.fromBos(ref, klSequences, seqLen.get());
                KlDivergence.Result kl =
                        KlDivergence.evaluate(ref, lm, sequences, Progress.windows(System.err, "KL", sequences.size()));
                result.put("reference", reference)
                        .put("kl_to_reference", kl.meanKl())
                        .put("top1_agreement", kl.top1Agreement())
                        .put("kl_positions", kl.positions());
                if (!json.get())
                    out.printf(
                            "KL(%s || %s) = %.5f nats/token, top-1 agreement %.2f%% over %,d positions%s%n",
                            reference,
                            model.get(),
                            kl.meanKl(),
                            100 * kl.top1Agreement(),
                            kl.positions(),
                            tokens != null ? "" : " (sequences sampled from the reference)");
            }
        }
        result.put("seconds", (System.nanoTime() - t0) / 1e9)
                .put("peak_rss_mb", ProcessMemory.peakRssMb())
                .put("peak_anon_mb", ProcessMemory.peakAnonMb());
        if (json.get()) out.println(result.toString());
        return 0;
    }

    /** The numeric options' ranges, before a model is loaded. */
    private void checkOptions() {
        OptionChecks.atLeast("--max-windows", maxWindows, 0);
        OptionChecks.atLeast("--kl-sequences", klSequences, 1);
        OptionChecks.atLeast("--task-limit", taskLimit, 1);
        OptionChecks.atLeast("--seq-len", seqLen.get(), 2);
    }

    private static List<McItem> nonEmpty(Path file, List<McItem> items) {
        if (items.isEmpty())
            throw new LowbitException(file + " holds no task items: give a jsonl file with one item per line");
        return items;
    }

    private void runTasks(
            LlamaModel lm,
            BpeTokenizer tok,
            String heldOut,
            List<List<McItem>> taskItems,
            ObjectNode result,
            PrintWriter out) {
        ObjectNode scores = result.putObject("tasks");
        for (int t = 0; t < tasks.size(); t++) {
            Path file = tasks.get(t);
            List<McItem> items = taskItems.get(t);
            MultipleChoice.Result r =
                    MultipleChoice.score(lm, tok, items.subList(0, Math.min(taskLimit, items.size())));
            scores.putObject(file.getFileName().toString())
                    .put("acc", r.acc())
                    .put("acc_norm", r.accNorm())
                    .put("items", r.items());
            if (!json.get())
                out.printf(
                        "%s: acc %.4f, acc_norm %.4f (%d items)%n",
                        file.getFileName(), r.acc(), r.accNorm(), r.items());
        }
        if (heldoutTasks) {
            MultipleChoice.Result ns = MultipleChoice.score(lm, tok, McTasks.nextSentence(heldOut, taskLimit, 1));
            double lw = MultipleChoice.lastWordAccuracy(lm, tok, McTasks.lastWords(heldOut, taskLimit, 1));
            scores.putObject("next_sentence")
                    .put("acc", ns.acc())
                    .put("acc_norm", ns.accNorm())
                    .put("items", ns.items());
            scores.putObject("last_word")
                    .put("acc", lw)
                    .put(
                            "items",
                            Math.min(
                                    taskLimit,
                                    McTasks.lastWords(heldOut, taskLimit, 1).size()));
            if (!json.get()) {
                out.printf(
                        "next sentence (1 of 4): acc %.4f, acc_norm %.4f (%d items; chance 0.25)%n",
                        ns.acc(), ns.accNorm(), ns.items());
                out.printf("last word, greedy exact match: acc %.4f%n", lw);
            }
        }
    }

    private List<int[]> windows(int[] tokens, int count) {
        List<int[]> out = new ArrayList<>();
        for (int w = 0; w < count && (w + 1) * seqLen.get() <= tokens.length; w++)
            out.add(Arrays.copyOfRange(tokens, w * seqLen.get(), (w + 1) * seqLen.get()));
        return out;
    }
}
