package dev.lowbit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.methods.eval.KlDivergence;
import dev.lowbit.methods.eval.McItem;
import dev.lowbit.methods.eval.McTasks;
import dev.lowbit.methods.eval.MultipleChoice;
import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tensor.Device;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit eval}: perplexity on text, and KL divergence / top-1 agreement to a reference model. */
@Command(name = "eval", description = "Perplexity on held-out text; with --reference, KL divergence and top-1 agreement to that model.")
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "\"default\", a Hugging Face folder or a llama2.c .bin (default: ${DEFAULT-VALUE})")
    String model = "default";

    @Option(names = "--text", description = "text file to score (default: the held-out austen-persuasion.txt)")
    Path text;

    @Option(names = "--data", description = "folder with the novels, for the default text (default: LOWBIT_DATA, then ../shared/data)")
    Path data;

    @Option(names = "--reference", description = "model to compare with (KL divergence and top-1 agreement)")
    String reference;

    @Option(names = "--seq-len", description = "tokens per window; windows do not overlap (default: ${DEFAULT-VALUE})")
    int seqLen = 128;

    @Option(names = "--max-windows", description = "score at most this many windows, 0 for all (default: ${DEFAULT-VALUE})")
    int maxWindows = 0;

    @Option(names = "--kl-sequences", description = "sequences for KL when there is no tokenizer (sampled from the reference; default: ${DEFAULT-VALUE})")
    int klSequences = 16;

    @Option(names = "--tasks", description = "multiple-choice jsonl files (HellaSwag, PIQA, ARC, WinoGrande, BoolQ formats)")
    List<Path> tasks = new ArrayList<>();

    @Option(names = "--heldout-tasks", description = "also run last-word prediction and true-next-sentence-among-four on the text")
    boolean heldoutTasks;

    @Option(names = "--task-limit", description = "items per task at most (default: ${DEFAULT-VALUE})")
    int taskLimit = 200;

    @Option(names = "--device", description = "cpu, cuda or cuda:N: where the models run (default: ${DEFAULT-VALUE})")
    String device = "cpu";

    @Option(names = "--json", description = "print the figures as one JSON object")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        ObjectNode result = new ObjectMapper().createObjectNode().put("model", model);
        try (Arena arena = Arena.ofShared()) {
            Device target = Device.parse(device);
            ModelFiles.Loaded m = ModelFiles.open(model, arena);
            LlamaModel lm = m.model().to(arena, target);
            int[] tokens = null;
            if (m.tokenizer().isPresent()) {
                Path file = text != null ? text : Corpus.locate(data, ProjectHome.get()).resolve(Corpus.HELD_OUT);
                tokens = m.tokenizer().get().encode(Corpus.read(file));
                Perplexity.Result p = Perplexity.evaluate(lm, tokens, seqLen, maxWindows > 0 ? maxWindows : Integer.MAX_VALUE);
                result.put("text", file.toString()).put("perplexity", p.perplexity()).put("mean_nll", p.meanNll())
                        .put("tokens_scored", p.tokensScored()).put("seq_len", p.seqLen()).put("stride", p.stride());
                if (!json)
                    out.printf("perplexity %.3f on %s (%,d tokens scored, sequence length %d, stride %d)%n", p.perplexity(), file,
                            p.tokensScored(), p.seqLen(), p.stride());
                runTasks(lm, m.tokenizer().get(), Corpus.read(file), result, out);
            } else if (text != null || !tasks.isEmpty() || heldoutTasks) {
                throw new LowbitException(model + " has no tokenizer, so it cannot score text or tasks; compare it with --reference instead");
            }
            if (reference != null) {
                LlamaModel ref = ModelFiles.open(reference, arena).model().to(arena, target);
                List<int[]> sequences = tokens != null ? windows(tokens, maxWindows > 0 ? maxWindows : 32) : sampledFrom(ref, klSequences, seqLen);
                KlDivergence.Result kl = KlDivergence.evaluate(ref, lm, sequences);
                result.put("reference", reference).put("kl_to_reference", kl.meanKl()).put("top1_agreement", kl.top1Agreement())
                        .put("kl_positions", kl.positions());
                if (!json)
                    out.printf("KL(%s || %s) = %.5f nats/token, top-1 agreement %.2f%% over %,d positions%s%n", reference, model,
                            kl.meanKl(), 100 * kl.top1Agreement(), kl.positions(),
                            tokens != null ? "" : " (sequences sampled from the reference)");
            }
        }
        if (json) out.println(result.toString());
        return 0;
    }

    private void runTasks(LlamaModel lm, BpeTokenizer tok, String heldOut, ObjectNode result, PrintWriter out) {
        ObjectNode scores = result.putObject("tasks");
        for (Path file : tasks) {
            List<McItem> items = McTasks.load(file);
            MultipleChoice.Result r = MultipleChoice.score(lm, tok, items.subList(0, Math.min(taskLimit, items.size())));
            scores.putObject(file.getFileName().toString()).put("acc", r.acc()).put("acc_norm", r.accNorm()).put("items", r.items());
            if (!json) out.printf("%s: acc %.4f, acc_norm %.4f (%d items)%n", file.getFileName(), r.acc(), r.accNorm(), r.items());
        }
        if (heldoutTasks) {
            MultipleChoice.Result ns = MultipleChoice.score(lm, tok, McTasks.nextSentence(heldOut, taskLimit, 1));
            double lw = MultipleChoice.lastWordAccuracy(lm, tok, McTasks.lastWords(heldOut, taskLimit, 1));
            scores.putObject("next_sentence").put("acc", ns.acc()).put("acc_norm", ns.accNorm()).put("items", ns.items());
            scores.putObject("last_word").put("acc", lw).put("items", Math.min(taskLimit, McTasks.lastWords(heldOut, taskLimit, 1).size()));
            if (!json) {
                out.printf("next sentence (1 of 4): acc %.4f, acc_norm %.4f (%d items; chance 0.25)%n", ns.acc(), ns.accNorm(), ns.items());
                out.printf("last word, greedy exact match: acc %.4f%n", lw);
            }
        }
    }

    private List<int[]> windows(int[] tokens, int count) {
        List<int[]> out = new ArrayList<>();
        for (int w = 0; w < count && (w + 1) * seqLen <= tokens.length; w++) out.add(Arrays.copyOfRange(tokens, w * seqLen, (w + 1) * seqLen));
        return out;
    }

    /** Sequences of length seqLen the reference samples itself from BOS (token 1, as llama2.c's tokenizers have it). */
    static List<int[]> sampledFrom(LlamaModel ref, int count, int seqLen) {
        return sampledFrom(ref, count, seqLen, 1000);
    }

    /** As above, the sampling seeds starting at seedBase (disjoint bases keep training and evaluation samples apart). */
    static List<int[]> sampledFrom(LlamaModel ref, int count, int seqLen, long seedBase) {
        Generator g = new Generator(ref, java.util.Optional.empty());
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            int[] gen = g.generate(new int[] {1}, new Generator.Options(seqLen - 1, 1f, 1f, seedBase + s, -1), null);
            int[] seq = new int[gen.length + 1];
            seq[0] = 1;
            System.arraycopy(gen, 0, seq, 1, gen.length);
            out.add(seq);
        }
        return out;
    }
}
