package dev.lowbit.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.KvDtype;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.nio.file.Files;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** README's "Serving from Java" example, verbatim between the markers, so it compiles and runs. */
class ServingExampleTest {
    @Test
    void theReadmeExampleRuns() {
        Assumptions.assumeTrue(
                Files.isRegularFile(LowbitEngineTest.DEFAULT.resolve("model.safetensors")),
                "the default model is missing");
        String old = System.getProperty("lowbit.home");
        System.setProperty(
                "lowbit.home", LowbitEngineTest.DEFAULT.getParent().getParent().toString());
        StringBuilder streamed = new StringBuilder();
        try {
            // README begin
            try (LowbitEngine engine = LowbitEngine.builder()
                    .model("default") // or a quantized folder, a Hugging Face folder, a llama2.c .bin
                    .maxBatch(8) // sequences decoded together in one step
                    .kvMemory(64L << 20) // the paged KV block pool: 64 MiB
                    .kvDtype(KvDtype.F16)
                    .queueLimit(32) // past it, submit throws EngineBusyException (a server's 503)
                    .build()) {
                BpeTokenizer tokenizer = engine.tokenizer().orElseThrow();
                int[] prompt = tokenizer.encode("Once upon a time");
                Submission s = engine.submit(prompt, SamplingParams.greedy(32), new TokenSink() {
                    @Override
                    public void onToken(int token, String text) {
                        streamed.append(text); // called on the engine's thread: keep it quick
                    }

                    @Override
                    public void onFinish(Completion c) {}

                    @Override
                    public void onError(LowbitException e) {}
                });
                Completion done = s.result().join(); // or s.cancel(): its KV blocks are freed before the next step
                // README end
                assertEquals(done.text(), streamed.toString());
                assertEquals(32, done.generatedTokens());
                assertTrue(done.text().length() > 10, done.text());
            }
        } finally {
            if (old == null) System.clearProperty("lowbit.home");
            else System.setProperty("lowbit.home", old);
        }
    }
}
