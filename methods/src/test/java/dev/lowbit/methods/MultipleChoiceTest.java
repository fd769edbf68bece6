package dev.lowbit.methods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.methods.eval.McItem;
import dev.lowbit.methods.eval.McTasks;
import dev.lowbit.methods.eval.MultipleChoice;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.ref.LlamaRef;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import dev.lowbit.runtime.tokenizer.BpeTrainer;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Task loaders for the standard jsonl formats, the held-out tasks, and log-likelihood scoring against the reference forward. */
class MultipleChoiceTest {
    @TempDir
    Path dir;

    @Test
    void loadsEveryStandardFormat() throws IOException {
        Path f = dir.resolve("mixed.jsonl");
        Files.write(
                f,
                List.of(
                        "{\"ctx\": \"A man is sitting on a roof. he\", \"endings\": [\"starts pulling up roofing.\", \"is using wrap.\"], \"label\": \"0\"}",
                        "{\"goal\": \"Boil water\", \"sol1\": \"Use a kettle.\", \"sol2\": \"Use a fridge.\", \"label\": 0}",
                        "{\"question\": {\"stem\": \"Which is a gas?\", \"choices\": [{\"text\": \"ice\", \"label\": \"A\"}, {\"text\": \"steam\", \"label\": \"B\"}]}, \"answerKey\": \"B\"}",
                        "{\"question\": \"Which is wet?\", \"choices\": {\"text\": [\"sand\", \"rain\", \"dust\"], \"label\": [\"1\", \"2\", \"3\"]}, \"answerKey\": \"2\"}",
                        "{\"sentence\": \"The trophy did not fit in the case because the _ was too big.\", \"option1\": \"trophy\", \"option2\": \"case\", \"answer\": \"1\"}",
                        "{\"passage\": \"Cats are mammals.\", \"question\": \"are cats mammals\", \"answer\": true}"));
        List<McItem> items = McTasks.load(f);
        assertEquals(6, items.size());
        assertEquals(
                McItem.shared(
                        "A man is sitting on a roof. he", List.of(" starts pulling up roofing.", " is using wrap."), 0),
                items.get(0));
        assertEquals(
                McItem.shared("Question: Boil water\nAnswer:", List.of(" Use a kettle.", " Use a fridge."), 0),
                items.get(1));
        assertEquals(McItem.shared("Question: Which is a gas?\nAnswer:", List.of(" ice", " steam"), 1), items.get(2));
        assertEquals(1, items.get(3).label());
        assertEquals(
                new McItem(
                        List.of(
                                "The trophy did not fit in the case because the trophy",
                                "The trophy did not fit in the case because the case"),
                        List.of(" was too big.", " was too big."),
                        0),
                items.get(4));
        assertEquals(
                McItem.shared("Cats are mammals.\nQuestion: are cats mammals?\nAnswer:", List.of(" no", " yes"), 1),
                items.get(5));
        Files.write(f, List.of("{\"foo\": 1}"));
        LowbitException e = assertThrows(LowbitException.class, () -> McTasks.load(f));
        assertTrue(e.getMessage().contains("line 1: unrecognised task format"), e.getMessage());
    }

    @Test
    void heldOutTasksAreBuiltFromTheText() {
        String text = "Anne walked to the village that morning alone. The weather was fine and bright all day long. "
                + "She met Captain Wentworth by the old stone wall there. They spoke of the navy and of Bath at length. "
                + "Her father was vain about his looks and rank always. Elizabeth agreed with him about everything always. "
                + "Mary complained of her health every single day there. Charles went out shooting with his friends often. "
                + "Lady Russell gave Anne her advice years before then. The Crofts rented Kellynch Hall from Sir Walter soon.";
        List<McItem> ns = McTasks.nextSentence(text, 5, 3);
        for (McItem item : ns) {
            assertEquals(4, item.continuations().size());
            String truth = item.continuations().get(item.label()).strip();
            assertTrue(text.contains(item.contexts().get(0) + " " + truth), "the labelled choice follows the context");
        }
        List<McTasks.LastWord> lw = McTasks.lastWords(text, 3, 1);
        assertEquals(3, lw.size());
        for (McTasks.LastWord w : lw) assertTrue(text.contains(w.context() + w.word()), w.toString());
    }

    @Test
    void scoresAreTheReferenceLogLikelihoods() {
        String corpus = "the cat sat on the mat. the dog sat on the log. ".repeat(10);
        BpeTokenizer tok = BpeTrainer.train(corpus, 290, List.of("<s>"), null);
        LlamaConfig cfg = new LlamaConfig(16, 24, 2, 4, 2, tok.vocabSize(), 64, 1e-5f, 10000f, true);
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters p = LlamaParameters.initialize(arena, cfg, 2);
            LlamaModel model = new LlamaModel(p.weights());
            String ctx = "the cat sat on the", cont = " mat.";
            int[] c = tok.encode(ctx), k = tok.encode(cont);
            int[] all = new int[1 + c.length + k.length];
            all[0] = tok.specialId("<s>");
            System.arraycopy(c, 0, all, 1, c.length);
            System.arraycopy(k, 0, all, 1 + c.length, k.length);
            double[][] logits = LlamaRef.forward(p.weights(), Arrays.copyOf(all, all.length - 1));
            double expected = 0;
            for (int i = 1 + c.length; i < all.length; i++) expected += LlamaRef.logSoftmax(logits[i - 1])[all[i]];
            assertEquals(expected, MultipleChoice.logLikelihood(model, tok, ctx, cont), 1e-4);

            // acc picks the higher total, acc_norm the higher per byte: build an item where they disagree
            double shortLl = MultipleChoice.logLikelihood(model, tok, ctx, " mat"),
                    longLl = MultipleChoice.logLikelihood(model, tok, ctx, " mat mat mat");
            McItem item = McItem.shared(ctx, List.of(" mat", " mat mat mat"), 0);
            MultipleChoice.Result r = MultipleChoice.score(model, tok, List.of(item));
            assertEquals(shortLl > longLl ? 1.0 : 0.0, r.acc());
            assertEquals(shortLl / 4 > longLl / 12 ? 1.0 : 0.0, r.accNorm());
        }
    }
}
