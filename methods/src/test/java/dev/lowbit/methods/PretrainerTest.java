package dev.lowbit.methods;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.methods.pretrain.PretrainConfig;
import dev.lowbit.methods.pretrain.Pretrainer;
import dev.lowbit.runtime.io.HfCheckpoint;
import dev.lowbit.runtime.model.LlamaConfig;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pretraining learns, and an interrupted run resumed from its checkpoint ends with the same weights. */
class PretrainerTest {
    static final String TEXT =
            "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
                    + "must be in want of a wife. ".repeat(20);
    static final PretrainConfig CFG = new PretrainConfig(
            new LlamaConfig(32, 64, 2, 4, 2, 300, 32, 1e-5f, 10000f, true),
            2,
            16,
            2,
            8,
            1e-2f,
            0.1f,
            2,
            PretrainConfig.Schedule.LINEAR,
            0.1f,
            1f,
            7,
            4);
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path dir;

    @Test
    void resumedRunEqualsUninterruptedRun() {
        Path straight = dir.resolve("straight"), resumed = dir.resolve("resumed");
        Pretrainer.Result r = new Pretrainer(CFG, straight, QUIET).run(TEXT);
        assertTrue(
                r.finalLoss() < Math.log(300),
                "loss after 8 steps " + r.finalLoss() + " should beat uniform " + Math.log(300));
        assertNull(new Pretrainer(CFG, resumed, QUIET).run(TEXT, 3));
        assertTrue(Files.isRegularFile(resumed.resolve("checkpoint.safetensors")));
        new Pretrainer(CFG, resumed, QUIET).run(TEXT);
        assertTrue(
                Files.notExists(resumed.resolve("checkpoint.safetensors")),
                "the checkpoint is removed once the model is written");
        try (Arena arena = Arena.ofConfined()) {
            assertArrayEquals(
                    HfCheckpoint.load(straight, arena).flat().toFloatArray(),
                    HfCheckpoint.load(resumed, arena).flat().toFloatArray());
        }
    }
}
