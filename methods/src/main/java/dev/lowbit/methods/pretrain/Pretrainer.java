package dev.lowbit.methods.pretrain;

import dev.lowbit.methods.Progress;
import dev.lowbit.methods.TokenWindows;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.io.SafetensorsWriter;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.BpeTrainer;
import dev.lowbit.runtime.tokenizer.TokenizerJson;
import dev.lowbit.runtime.train.AdamW;
import dev.lowbit.runtime.train.LlamaParameters;
import dev.lowbit.runtime.train.LlamaTrainer;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Pretrains a small LLaMA from scratch: trains the BPE tokenizer, tokenizes the training novels,
 * then AdamW on random windows of the token stream. Every checkpointEvery steps the parameters,
 * optimizer moments and step go to out/checkpoint.safetensors, and a rerun with the same out
 * resumes from there. The batches depend only on (seed, step), so a resumed run sees the same data
 * as an uninterrupted one. Writes out/model.safetensors, config.json and tokenizer.json.
 */
public final class Pretrainer {
    /** What a finished run reports. */
    public record Result(int steps, float finalLoss, double tokensPerSecond, double seconds, long parameters) {}

    private final PretrainConfig cfg;
    private final Path out;
    private final PrintStream log;

    public Pretrainer(PretrainConfig cfg, Path out, PrintStream log) {
        this.cfg = cfg;
        this.out = out;
        this.log = log;
    }

    public Result run(String trainingText) {
        return run(trainingText, Integer.MAX_VALUE);
    }

    /**
     * Trains up to step stopAfter (then leaves a checkpoint and returns null, to be resumed by a
     * later run) or to the end (then writes the model).
     */
    public Result run(String trainingText, int stopAfter) {
        BpeTokenizer tokenizer = tokenizer(trainingText);
        int[] tokens = tokenizer.encode(trainingText);
        log.printf(
                "training text: %,d characters -> %,d tokens (vocabulary %d)%n",
                trainingText.length(), tokens.length, tokenizer.vocabSize());
        TokenWindows windows = new TokenWindows(tokens, cfg.seqLen(), cfg.seed());
        try (Arena arena = Arena.ofShared()) {
            LlamaParameters params = LlamaParameters.initialize(arena, cfg.model(), cfg.seed());
            LlamaParameters grads = LlamaParameters.zeros(arena, cfg.model());
            LlamaParameters m = LlamaParameters.zeros(arena, cfg.model()),
                    v = LlamaParameters.zeros(arena, cfg.model());
            AdamW opt = new AdamW(params, m, v, 0.9f, 0.95f, 1e-8f, cfg.weightDecay());
            Path checkpoint = out.resolve("checkpoint.safetensors");
            int start = Files.isRegularFile(checkpoint) ? resume(checkpoint, params, m, v, opt) : 0;
            if (start > 0) log.printf("resuming from %s at step %d%n", checkpoint, start);
            LlamaTrainer trainer = new LlamaTrainer(arena, params, grads, cfg.batch(), cfg.seqLen());
            log.printf(
                    "model: %,d parameters; %d steps of %d x %d tokens%n",
                    cfg.model().parameterCount(), cfg.steps(), cfg.batch(), cfg.seqLen());
            Progress progress = new Progress(log, "pretrain", cfg.steps(), start);
            int[] inputs = new int[cfg.batch() * cfg.seqLen()], targets = new int[inputs.length];
            float loss = Float.NaN;
            long t0 = System.nanoTime();
            for (int step = start; step < cfg.steps(); step++) {
                grads.flat().segment().fill((byte) 0);
                loss = 0;
                for (int micro = 0; micro < cfg.gradAccum(); micro++) {
                    windows.fill(step * cfg.gradAccum() + micro, inputs, targets);
                    loss += trainer.forwardBackward(inputs, targets, 1f / cfg.gradAccum()) / cfg.gradAccum();
                }
                if (!Float.isFinite(loss))
                    throw new LowbitException("loss became " + loss + " at step " + step + "; lower the learning rate");
                opt.update(grads, cfg.learningRate(step), cfg.clip());
                progress.step(
                        step + 1,
                        String.format("loss %.3f | lr %.2e", loss, cfg.learningRate(step)),
                        (long) inputs.length * cfg.gradAccum());
                boolean stopping = step + 1 == stopAfter && step + 1 < cfg.steps();
                if (stopping || ((step + 1) % cfg.checkpointEvery() == 0 && step + 1 < cfg.steps()))
                    saveCheckpoint(checkpoint, params, m, v, step + 1);
                if (stopping) {
                    progress.done();
                    log.printf("stopped after step %d; run again with the same output folder to resume%n", step + 1);
                    return null;
                }
            }
            progress.done();
            double seconds = (System.nanoTime() - t0) / 1e9;
            int done = cfg.steps() - start;
            HfCheckpoint.save(
                    params,
                    out,
                    Map.of(
                            "lowbit.pretrain.steps",
                            Integer.toString(cfg.steps()),
                            "lowbit.pretrain.seed",
                            Long.toString(cfg.seed())));
            Files.deleteIfExists(checkpoint);
            return new Result(
                    cfg.steps(),
                    loss,
                    done * (double) inputs.length * cfg.gradAccum() / seconds,
                    seconds,
                    cfg.model().parameterCount());
        } catch (IOException e) {
            throw new LowbitException("cannot remove " + out.resolve("checkpoint.safetensors") + ": " + e.getMessage());
        }
    }

    private BpeTokenizer tokenizer(String text) {
        Path file = out.resolve("tokenizer.json");
        if (Files.isRegularFile(file)) return TokenizerJson.load(file);
        log.printf("training a %d-token byte-level BPE ...%n", cfg.model().vocabSize());
        BpeTokenizer t = BpeTrainer.train(text, cfg.model().vocabSize(), List.of("<s>", "</s>"), null);
        TokenizerJson.save(t, file);
        return t;
    }

    private static void saveCheckpoint(Path file, LlamaParameters p, LlamaParameters m, LlamaParameters v, int step) {
        new SafetensorsWriter()
                .metadata("step", Integer.toString(step))
                .put("params", p.flat())
                .put("adam_m", m.flat())
                .put("adam_v", v.flat())
                .write(file);
    }

    private static int resume(Path file, LlamaParameters p, LlamaParameters m, LlamaParameters v, AdamW opt) {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            for (var e : Map.of("params", p, "adam_m", m, "adam_v", v).entrySet())
                if (!f.copyInto(e.getKey(), e.getValue().flat()))
                    throw new LowbitException(file + " was written for another model size; delete it to start over");
            int step = Integer.parseInt(f.metadata().getOrDefault("step", "0"));
            opt.setStep(step);
            return step;
        }
    }
}
