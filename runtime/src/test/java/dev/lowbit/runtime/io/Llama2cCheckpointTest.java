package dev.lowbit.runtime.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.runtime.model.KvCache;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading ../shared/models/stories260K.bin (a real pretrained llama2.c checkpoint) and rejecting broken copies. */
class Llama2cCheckpointTest {
    static final Path STORIES =
            Path.of(System.getProperty("lowbit.shared.dir", "../../shared"), "models", "stories260K.bin");

    @TempDir
    Path dir;

    static void assumeStories() {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES + " (../shared is absent)");
    }

    @Test
    void loadsTheHeaderTheReadmeDescribes() {
        assumeStories();
        try (Arena arena = Arena.ofConfined()) {
            LlamaConfig c = Llama2cCheckpoint.load(STORIES, arena).config();
            assertEquals(new LlamaConfig(64, 172, 5, 8, 4, 512, 512, 1e-5f, 10000f, true), c);
        }
    }

    /** Its own greedy continuation must be far more likely under the model than random token sequences. */
    @Test
    void greedyContinuationsAreFarMoreLikelyThanRandomTokens() {
        assumeStories();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel model = new LlamaModel(Llama2cCheckpoint.load(STORIES, arena));
            int n = 40;
            int[] greedy = new int[n];
            greedy[0] = 1; // BOS in llama2.c's tokenizers
            KvCache cache = model.newCache(arena);
            for (int i = 1; i < n; i++) {
                float[] logits =
                        model.forward(arena, new int[] {greedy[i - 1]}, cache).toFloatArray();
                greedy[i] = argmax(logits);
            }
            double greedyNll = meanNll(model, arena, greedy);
            Random rnd = new Random(1);
            for (int trial = 0; trial < 3; trial++) {
                int[] random = new int[n];
                random[0] = 1;
                for (int i = 1; i < n; i++) random[i] = 3 + rnd.nextInt(509);
                double randomNll = meanNll(model, arena, random);
                assertTrue(
                        randomNll > greedyNll + 3,
                        "random tokens: " + randomNll + " nats/token vs greedy " + greedyNll);
            }
            assertTrue(
                    greedyNll < 1.5,
                    "the model should be confident in its own greedy text: " + greedyNll + " nats/token, "
                            + Arrays.toString(greedy));
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** Mean negative log-likelihood of tokens[1..] given their prefixes, in one prefill. */
    private static double meanNll(LlamaModel model, Arena arena, int[] tokens) {
        Tensor logits = model.forward(arena, tokens, model.newCache(arena));
        int v = model.config().vocabSize();
        float[] all = logits.toFloatArray();
        double nll = 0;
        for (int i = 0; i + 1 < tokens.length; i++) {
            double mx = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < v; j++) mx = Math.max(mx, all[i * v + j]);
            for (int j = 0; j < v; j++) sum += Math.exp(all[i * v + j] - mx);
            nll += mx + Math.log(sum) - all[i * v + tokens[i + 1]];
        }
        return nll / (tokens.length - 1);
    }

    @Test
    void truncatedPaddedAndGarbageFilesAreRejected() throws IOException {
        assumeStories();
        byte[] good = Files.readAllBytes(STORIES);
        expect(Arrays.copyOf(good, good.length - 100), "(truncated)");
        expect(Arrays.copyOf(good, good.length + 4), "(trailing data)");
        expect(Arrays.copyOf(good, 20), "shorter than its 28-byte header");
        byte[] garbage = good.clone();
        garbage[3] = 0x40; // dim becomes huge
        expect(garbage, "dim 1073741888 is out of range: give 1 to 65,536");
        byte[] badHeads = good.clone();
        badHeads[12] = 3; // 3 heads do not divide dim 64
        expect(badHeads, "dim 64 is not a multiple of n_heads 3");
    }

    private void expect(byte[] content, String reason) throws IOException {
        Path bad = dir.resolve("bad.bin");
        Files.write(bad, content);
        try (Arena arena = Arena.ofConfined()) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> Llama2cCheckpoint.load(bad, arena));
            assertTrue(e.getMessage().contains(reason), e.getMessage());
        }
    }
}
