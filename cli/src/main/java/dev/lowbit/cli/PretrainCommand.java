package dev.lowbit.cli;

import dev.lowbit.methods.eval.Perplexity;
import dev.lowbit.methods.pretrain.Corpus;
import dev.lowbit.methods.pretrain.PretrainConfig;
import dev.lowbit.methods.pretrain.Pretrainer;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.AtomicFiles;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit pretrain}: trains the default model (or one sized by the options) from scratch. */
@Command(
        name = "pretrain",
        description = "Pretrain a small LLaMA and its BPE tokenizer on the Austen novels (Persuasion held out).")
final class PretrainCommand implements Callable<Integer> {
    private static final PretrainConfig D = PretrainConfig.defaults();

    @Spec
    CommandSpec spec;

    @Mixin
    SharedOptions.DataOption data;

    @Option(
            names = "--out",
            description = "output folder; a checkpoint there is resumed (default: the project's models/default)")
    Path out;

    @Option(names = "--steps", description = "optimizer steps (default: ${DEFAULT-VALUE})")
    int steps = D.steps();

    @Option(names = "--batch", description = "sequences per step (default: ${DEFAULT-VALUE})")
    int batch = D.batch();

    @Mixin
    SharedOptions.SeqLenOption seqLen = new SharedOptions.SeqLenOption(D.seqLen());

    @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE})")
    float lr = D.learningRate();

    @Option(names = "--grad-accum", description = "batches accumulated per optimizer step (default: ${DEFAULT-VALUE})")
    int gradAccum = D.gradAccum();

    @Option(
            names = "--schedule",
            description = "learning-rate decay after warm-up: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    PretrainConfig.Schedule schedule = D.schedule();

    @Option(names = "--dim", description = "model width (default: ${DEFAULT-VALUE})")
    int dim = D.model().dim();

    @Option(names = "--layers", description = "transformer blocks (default: ${DEFAULT-VALUE})")
    int layers = D.model().layers();

    @Option(names = "--heads", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads = D.model().heads();

    @Option(names = "--kv-heads", description = "key/value heads (default: ${DEFAULT-VALUE})")
    int kvHeads = D.model().kvHeads();

    @Option(names = "--hidden", description = "SwiGLU width (default: ${DEFAULT-VALUE})")
    int hidden = D.model().hiddenDim();

    @Option(names = "--vocab", description = "BPE vocabulary size (default: ${DEFAULT-VALUE})")
    int vocab = D.model().vocabSize();

    @Option(names = "--seed", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed = D.seed();

    @Option(names = "--stop-after", description = "stop after this step, leaving a checkpoint that a later run resumes")
    int stopAfter = Integer.MAX_VALUE;

    @Override
    public Integer call() {
        PrintWriter o = spec.commandLine().getOut();
        checkOptions();
        Path dataDir = Corpus.locate(data.get(), ProjectHome.get());
        if (out == null) out = ProjectHome.get().resolve("models").resolve("default");
        LlamaConfig model = new LlamaConfig(
                dim, hidden, layers, heads, kvHeads, vocab, Math.max(256, seqLen.get()), 1e-5f, 10000f, true);
        PretrainConfig cfg = new PretrainConfig(
                model,
                batch,
                seqLen.get(),
                gradAccum,
                steps,
                lr,
                D.minLrRatio(),
                Math.min(D.warmupSteps(), steps / 10 + 1),
                schedule,
                D.weightDecay(),
                D.clip(),
                seed,
                D.checkpointEvery());
        Pretrainer.Result r = new Pretrainer(cfg, out, System.err).run(Corpus.trainingText(dataDir), stopAfter);
        if (r == null) return 0;
        String heldOut = Corpus.read(dataDir.resolve(Corpus.HELD_OUT));
        Perplexity.Result ppl;
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = HfCheckpoint.load(out, arena);
            ppl = Perplexity.evaluate(
                    new LlamaModel(p.weights()),
                    TokenizerJson.load(out.resolve("tokenizer.json")).encode(heldOut),
                    seqLen.get(),
                    Integer.MAX_VALUE);
        }
        String card = card(cfg, r, ppl);
        AtomicFiles.write(
                out.resolve("README.md"), ch -> ch.write(ByteBuffer.wrap(card.getBytes(StandardCharsets.UTF_8))));
        o.printf(
                "trained %,d parameters for %d steps in %.0f s (%,.0f tokens/s); final training loss %.3f%n",
                r.parameters(), r.steps(), r.seconds(), r.tokensPerSecond(), r.finalLoss());
        o.printf(
                "held-out perplexity on %s: %.2f (%,d tokens, sequence length %d, stride %d)%n",
                Corpus.HELD_OUT, ppl.perplexity(), ppl.tokensScored(), ppl.seqLen(), ppl.stride());
        o.printf("wrote %s (model.safetensors, config.json, tokenizer.json, README.md)%n", out);
        return 0;
    }

    /** Every option's range, and the model shape's divisibility, in the options' names, before any work. */
    private void checkOptions() {
        OptionChecks.atLeast("--steps", steps, 1);
        OptionChecks.atLeast("--batch", batch, 1);
        OptionChecks.within("--seq-len", seqLen.get(), 2, 1 << 16);
        OptionChecks.atLeast("--grad-accum", gradAccum, 1);
        OptionChecks.within("--lr", lr, 0, true, 10);
        OptionChecks.within("--dim", dim, 2, 1 << 16);
        OptionChecks.within("--layers", layers, 1, 1024);
        OptionChecks.within("--heads", heads, 1, dim);
        OptionChecks.within("--kv-heads", kvHeads, 1, heads);
        OptionChecks.within("--hidden", hidden, 1, 1 << 18);
        // a byte-level BPE holds the 256 bytes and the special tokens before any merge
        OptionChecks.within("--vocab", vocab, 260, 1 << 20);
        OptionChecks.atLeast("--stop-after", stopAfter, 1);
        if (dim % heads != 0)
            throw new LowbitException("--dim " + dim + " is not a multiple of --heads " + heads + ": change either");
        if (heads % kvHeads != 0)
            throw new LowbitException(
                    "--heads " + heads + " is not a multiple of --kv-heads " + kvHeads + ": change either");
        if ((dim / heads) % 2 != 0)
            throw new LowbitException("--dim / --heads = " + dim / heads
                    + " is odd; rotary embeddings need an even head size: change either");
    }

    private String card(PretrainConfig cfg, Pretrainer.Result r, Perplexity.Result ppl) {
        LlamaConfig m = cfg.model();
        return """
                # lowbit default model

                A small LLaMA (RMSNorm, RoPE, grouped-query attention, SwiGLU, tied embeddings) with a
                %d-token byte-level BPE, trained from scratch by lowbit on five Jane Austen novels
                (%s), holding out %s.

                | | |
                | --- | --- |
                | parameters | %,d |
                | width / SwiGLU width / blocks | %d / %d / %d |
                | heads / key-value heads | %d / %d |
                | context | %d |
                | steps x batch x sequence (x accumulation) | %d x %d x %d (x %d) |
                | optimizer | AdamW (0.9, 0.95), peak lr %s, %s decay to %s x peak, warm-up %d, weight decay %s, clip %s |
                | seed | %d |
                | final training loss | %.3f |
                | held-out perplexity (%s) | %.2f over %,d tokens, sequence length %d, stride %d |
                | training time | %.0f s at %,.0f tokens/s (2-core AVX2 machine) |

                Command: `./lowbit pretrain --steps %d --batch %d --seq-len %d --grad-accum %d --lr %s --schedule %s --dim %d --layers %d --heads %d --kv-heads %d --hidden %d --vocab %d --seed %d`
                """.formatted(
                        m.vocabSize(),
                        String.join(", ", Corpus.TRAIN),
                        Corpus.HELD_OUT,
                        r.parameters(),
                        m.dim(),
                        m.hiddenDim(),
                        m.layers(),
                        m.heads(),
                        m.kvHeads(),
                        m.maxSeqLen(),
                        cfg.steps(),
                        cfg.batch(),
                        cfg.seqLen(),
                        cfg.gradAccum(),
                        cfg.learningRate(),
                        cfg.schedule().name().toLowerCase(Locale.ROOT),
                        cfg.minLrRatio(),
                        cfg.warmupSteps(),
                        cfg.weightDecay(),
                        cfg.clip(),
                        cfg.seed(),
                        r.finalLoss(),
                        Corpus.HELD_OUT,
                        ppl.perplexity(),
                        ppl.tokensScored(),
                        ppl.seqLen(),
                        ppl.stride(),
                        r.seconds(),
                        r.tokensPerSecond(),
                        cfg.steps(),
                        cfg.batch(),
                        cfg.seqLen(),
                        cfg.gradAccum(),
                        cfg.learningRate(),
                        cfg.schedule(),
                        m.dim(),
                        m.layers(),
                        m.heads(),
                        m.kvHeads(),
                        m.hiddenDim(),
                        m.vocabSize(),
                        cfg.seed());
    }
}
