package dev.lowbit.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.chat.GreedyReference;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * OpenAI's own Node.js client (the openai npm package, fetched into target/ at test time) streams a
 * chat completion from the server: the greedy text, and usage in the last chunk.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NodeOpenAiClientTest {
    /** The newest major line that runs on Node 20 (openai 7 asks for Node 22). */
    private static final String OPENAI = "openai@6.30.1";

    private static final String QUESTION = "Who is Mr. Knightley?";
    private static final int MAX_TOKENS = 24;

    @Test
    void streamsTheGreedyText() throws Exception {
        Path dir = Path.of("target", "node-openai").toAbsolutePath();
        installClient(dir);
        Path script = dir.resolve("openai-stream.mjs");
        try (InputStream in = getClass().getResourceAsStream("/openai-stream.mjs")) {
            Files.copy(in, script, StandardCopyOption.REPLACE_EXISTING);
        }
        try (TestServer server = new TestServer(4, 16);
                GreedyReference reference = new GreedyReference()) {
            Result run = run(
                    dir,
                    90,
                    "node",
                    script.toString(),
                    server.base() + "/v1",
                    TestServer.KEY,
                    QUESTION,
                    String.valueOf(MAX_TOKENS));
            assertEquals(0, run.exit(), run.output());
            JsonNode out = new ObjectMapper()
                    .readTree(run.output().strip().lines().toList().getLast());
            int[] expected = reference.chat(QUESTION, MAX_TOKENS);
            assertFalse(reference.text(expected).isEmpty());
            assertEquals(reference.text(expected), out.get("text").asText());
            assertEquals(expected.length, out.at("/usage/completion_tokens").asInt());
            assertEquals(
                    reference.promptTokens(QUESTION),
                    out.at("/usage/prompt_tokens").asInt());
            assertTrue(out.get("chunks").asInt() > 2, out.toString());
            assertEquals(
                    expected.length == MAX_TOKENS ? "length" : "stop",
                    out.get("finish").asText());
        }
    }

    /** npm install into dir, once; skipped with the reason where node, npm or the registry is not there. */
    private static void installClient(Path dir) throws Exception {
        if (Files.isRegularFile(dir.resolve("node_modules/openai/package.json"))) return;
        Files.createDirectories(dir);
        Result node = run(dir, 30, "node", "--version");
        Assumptions.assumeTrue(node.exit() == 0, "node is not installed: " + node.output());
        Result npm = run(dir, 240, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir.toString(), OPENAI);
        Assumptions.assumeTrue(npm.exit() == 0, "npm could not install " + OPENAI + " (no registry?): " + npm.output());
    }

    private record Result(int exit, String output) {}

    private static Result run(Path dir, int seconds, String... command) throws InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(List.of(command))
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            return new Result(-1, command[0] + " could not start: " + e.getMessage());
        }
        byte[][] out = new byte[1][];
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = e.toString().getBytes(StandardCharsets.UTF_8);
            }
        });
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Result(-1, String.join(" ", command) + " ran past " + seconds + " s");
        }
        reader.join();
        return new Result(p.exitValue(), new String(out[0], StandardCharsets.UTF_8));
    }
}
