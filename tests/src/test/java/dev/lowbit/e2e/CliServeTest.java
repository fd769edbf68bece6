package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code lowbit serve} as a user runs it: a fresh JVM on a free loopback port, answering until SIGTERM. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CliServeTest {
    private static final Path ROOT = CliGenerateTest.ROOT;
    private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");

    private static Process serve(String... options) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-Dlowbit.home=" + ROOT,
                "-cp",
                System.getProperty("java.class.path"),
                "dev.lowbit.cli.LowbitCli",
                "serve"));
        cmd.addAll(List.of(options));
        return new ProcessBuilder(cmd).start();
    }

    @Test
    void servesUntilStoppedAndStopsCleanly() throws Exception {
        assumeTrue(Files.isRegularFile(ROOT.resolve("models/default/model.safetensors")), "no default model");
        Process p = serve("--port", "0", "--api-key", "k", "--max-batch", "4", "--kv-dtype", "bf16");
        try {
            BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
            int port = -1;
            StringBuilder seen = new StringBuilder();
            for (String line; (line = err.readLine()) != null; ) {
                seen.append(line).append('\n');
                Matcher m = LISTENING.matcher(line);
                if (m.find()) port = Integer.parseInt(m.group(1));
                if (line.contains("ready")) break;
            }
            assertTrue(port > 0, seen.toString());
            HttpClient http = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(10))
                    .build();
            String base = "http://127.0.0.1:" + port;
            assertEquals(
                    200,
                    http.send(
                                    HttpRequest.newBuilder(URI.create(base + "/health"))
                                            .build(),
                                    HttpResponse.BodyHandlers.ofString())
                            .statusCode());
            HttpResponse<String> chat = http.send(
                    HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                            .header("Authorization", "Bearer k")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"default\",\"max_tokens\":8,\"temperature\":0,"
                                            + "\"messages\":[{\"role\":\"user\",\"content\":\"Who is Emma?\"}]}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, chat.statusCode(), chat.body());
            JsonNode answer = new ObjectMapper().readTree(chat.body());
            assertFalse(answer.at("/choices/0/message/content").asText().isEmpty(), chat.body());
            int tokens = answer.at("/usage/completion_tokens").asInt();
            String finish = answer.at("/choices/0/finish_reason").asText();
            assertTrue(finish.equals("length") ? tokens == 8 : finish.equals("stop") && tokens < 8, chat.body());
            p.destroy(); // SIGTERM: the shutdown hook stops the server and frees the model
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void badOptionsAreOneLineErrors() throws Exception {
        CliModelTest.Result dtype = CliModelTest.run("serve", "--kv-dtype", "fp8");
        assertEquals(1, dtype.code());
        assertEquals(
                "lowbit serve: --kv-dtype fp8 is not one of f16, bf16, int8",
                dtype.err().strip());
        CliModelTest.Result port = CliModelTest.run("serve", "--port", "70000");
        assertEquals(1, port.code());
        assertTrue(port.err().contains("--port 70000 is out of range: give 0 to 65,535"), port.err());
        CliModelTest.Result size = CliModelTest.run("serve", "--kv-memory", "lots");
        assertEquals(1, size.code());
        assertTrue(size.err().contains("bad size 'lots'"), size.err());
    }
}
