package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code lowbit generate --model default} as a user runs it: the text, then load, prompt and decode timings. */
class CliGenerateTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final String PROMPT = "It is a truth";
    private String oldHome;

    /** "default" is models/default under lowbit.home, which ./lowbit sets to the project folder. */
    @BeforeEach
    void projectHome() {
        assumeTrue(
                Files.isRegularFile(ROOT.resolve("models/default/model.safetensors")),
                "no default model under " + ROOT);
        oldHome = System.getProperty("lowbit.home");
        System.setProperty("lowbit.home", ROOT.toString());
    }

    @AfterEach
    void restoreHome() {
        if (oldHome == null) System.clearProperty("lowbit.home");
        else System.setProperty("lowbit.home", oldHome);
    }

    @Test
    void jsonHasTheTextAndPositiveTimings() throws Exception {
        CliModelTest.Result r = CliModelTest.run(
                "generate",
                "--model",
                "default",
                "--prompt",
                PROMPT,
                "--max-tokens",
                "8",
                "--temperature",
                "0",
                "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        try (Arena arena = Arena.ofConfined()) {
            ModelFiles.Loaded m = ModelFiles.open("default", arena);
            BpeTokenizer tok = m.tokenizer().orElseThrow();
            assertEquals(tok.encode(PROMPT).length + 1, j.get("prompt_tokens").asInt(), "BOS and the prompt's tokens");
            Generator.Options greedy = new Generator.Options(8, 0f, 0.95f, 42, tok.specialId("</s>"));
            assertEquals(
                    new Generator(m.model(), m.tokenizer()).generate(PROMPT, greedy, null),
                    j.get("text").asText(),
                    "the text Generator's own text generation gives");
        }
        int generated = j.get("generated_tokens").asInt();
        assertTrue(generated >= 2 && generated <= 8, r.out());
        assertEquals(generated - 1, j.get("decode_tokens").asInt());
        for (String key : new String[] {
            "load_ms", "prompt_ms", "prompt_tokens_per_second", "decode_ms", "decode_tokens_per_second"
        }) assertTrue(j.get(key).isNumber() && j.get(key).asDouble() > 0, key + " in " + j);
        assertEquals(
                j.get("prompt_tokens").asDouble() / (j.get("prompt_ms").asDouble() / 1e3),
                j.get("prompt_tokens_per_second").asDouble(),
                1e-6 * j.get("prompt_tokens_per_second").asDouble());
        assertEquals(
                j.get("decode_tokens").asDouble() / (j.get("decode_ms").asDouble() / 1e3),
                j.get("decode_tokens_per_second").asDouble(),
                1e-6 * j.get("decode_tokens_per_second").asDouble());
    }

    @Test
    void textGoesToStdoutAndTimingsToStderr() {
        CliModelTest.Result r =
                CliModelTest.run("generate", "--model", "default", "--prompt", PROMPT, "--max-tokens", "16");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(PROMPT) && r.out().length() > PROMPT.length() + 1, r.out());
        assertTrue(positive(r.err(), "load:\\s+(\\S+) ms"), r.err());
        assertTrue(positive(r.err(), "prompt:\\s+\\d+ tokens in \\S+ ms \\((\\S+) tokens/s\\)"), r.err());
        assertTrue(positive(r.err(), "decode:\\s+\\d+ tokens in \\S+ ms \\((\\S+) tokens/s\\)"), r.err());
        assertTrue(positive(r.err(), "generated:\\s+(\\d+) tokens"), r.err());
    }

    private static boolean positive(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        return m.find() && Double.parseDouble(m.group(1)) > 0;
    }
}
