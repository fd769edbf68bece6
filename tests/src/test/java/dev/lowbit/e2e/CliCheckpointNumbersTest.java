package dev.lowbit.e2e;

import static dev.lowbit.e2e.CliBadInputTest.refused;
import static dev.lowbit.e2e.CliModelTest.DEFAULT;
import static dev.lowbit.e2e.CliModelTest.STORIES;
import static dev.lowbit.e2e.CliModelTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every number a checkpoint declares or stores is checked on load, and a refusal names the file and the field or tensor. */
class CliCheckpointNumbersTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path copyOf(Path model, Path dir) throws Exception {
        Path copy = Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(model)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        return copy;
    }

    /** config.json of model with field (in object, or at the top when object is null) set to the JSON text value. */
    private static void setConfig(Path model, String object, String field, String value) throws Exception {
        Path file = model.resolve("config.json");
        ObjectNode c = (ObjectNode) JSON.readTree(file.toFile());
        ObjectNode target = object == null ? c : (ObjectNode) c.get(object);
        target.set(field, JSON.readTree(value));
        JSON.writeValue(file.toFile(), c);
    }

    private static CliModelTest.Result generate(Path model) {
        return run("generate", "--model", model.toString(), "--max-tokens", "2", "--temperature", "0");
    }

    @Test
    void configFieldsAreCheckedByNameAndRange(@TempDir Path dir) throws Exception {
        String[][] cases = {
            {"hidden_size", "\"abc\"", "hidden_size is \"abc\", not an integer: give an integer from 1 to 65,536"},
            {"num_attention_heads", "-3", "num_attention_heads -3 is out of range: give 1 to 65,536"},
            {"num_hidden_layers", "2.5", "num_hidden_layers is 2.5, not an integer"},
            {"hidden_size", "250", "hidden_size 250 is not a multiple of num_attention_heads 8"},
            {"num_key_value_heads", "3", "num_attention_heads 8 is not a multiple of num_key_value_heads 3"},
            {"vocab_size", "99999999999", "vocab_size 99999999999 is out of range"},
            {"max_position_embeddings", "0", "max_position_embeddings 0 is out of range: give 1 to 2,147,483,647"},
            {"rms_norm_eps", "\"tiny\"", "rms_norm_eps is \"tiny\", not a number"},
            {"rope_theta", "-1", "rope_theta -1.0 is out of range: give a number above 0"},
            {"tie_word_embeddings", "\"yes\"", "tie_word_embeddings is \"yes\", not true or false"},
        };
        for (String[] c : cases) {
            Path model = copyOf(DEFAULT, dir.resolve(c[0] + c[1].hashCode()));
            setConfig(model, null, c[0], c[1]);
            refused(generate(model), 1, model.resolve("config.json") + ": " + c[2]);
        }
    }

    @Test
    void quantizedCheckpointsHaveTheirSettingsAndScalesChecked(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        Path q = dir.resolve("q");
        CliModelTest.Result made = run(
                "quantize", "--group", "-1", "--seq-len", "16", "--model", STORIES.toString(), "--out", q.toString());
        assertEquals(0, made.code(), made.err());
        assertEquals(0, generate(q).code(), "the untouched checkpoint loads");

        Path bits = copyOf(q, dir.resolve("abits7"));
        setConfig(bits, "quantization_config", "activation_bits", "7");
        refused(generate(bits), 1, "quantization_config.activation_bits 7 is not supported: give one of [4, 6, 8, 16]");
        Path wbits = copyOf(q, dir.resolve("bits5"));
        setConfig(wbits, "quantization_config", "bits", "5");
        refused(generate(wbits), 1, "quantization_config.bits 5 is not supported");

        for (String part : new String[] {"scales", "zeros"}) {
            Path nan = copyOf(q, dir.resolve("nan-" + part));
            String tensor = "model.layers.3.mlp.down_proj." + part;
            Safetensors.setF32(nan.resolve("model.safetensors"), tensor, 5, Float.NaN);
            refused(
                    generate(nan),
                    1,
                    nan.resolve("model.safetensors") + ": tensor '" + tensor + "' holds NaN at element 5",
                    "the checkpoint is damaged");
        }
    }

    @Test
    void nonFiniteWeightsInALlama2cFileAreBlamedOnTheFileAndTensor(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isRegularFile(STORIES), "stories260K.bin not found at " + STORIES);
        byte[] good = Files.readAllBytes(STORIES);
        ByteBuffer header = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN);
        int dim = header.getInt(0), layers = header.getInt(8), vocab = Math.abs(header.getInt(20));
        // the first tensors: token_embedding_table [vocab, dim], then rms_att_weight [layers, dim], then wq
        long[][] cases = {{10, 0}, {(long) vocab * dim + dim + 3, 1}, {(long) vocab * dim + (long) layers * dim + 7, 2}
        };
        String[] expect = {
            "'token_embedding_table' holds NaN at element 10",
            "'rms_att_weight[1]' holds Infinity at element 3",
            "'wq[0]' holds NaN at element 7"
        };
        for (int i = 0; i < cases.length; i++) {
            byte[] bad = good.clone();
            ByteBuffer.wrap(bad)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putFloat(28 + 4 * (int) cases[i][0], i == 1 ? Float.POSITIVE_INFINITY : Float.NaN);
            Path file = Files.write(dir.resolve("bad" + i + ".bin"), bad);
            refused(generate(file), 1, file + ": tensor " + expect[i]);
        }
        byte[] header0 = good.clone();
        ByteBuffer.wrap(header0).order(ByteOrder.LITTLE_ENDIAN).putInt(24, 0); // seq_len 0
        Path file = Files.write(dir.resolve("seq0.bin"), header0);
        refused(generate(file), 1, "seq_len 0 is out of range");
    }

    @Test
    void devicesAndFoldersWithoutAModelAreNamedAsSuch(@TempDir Path dir) {
        assumeTrue(Files.exists(Path.of("/dev/zero")), "no /dev/zero here");
        refused(generate(Path.of("/dev/zero")), 1, "/dev/zero: not a model (neither a folder nor a regular file");
        refused(generate(dir), 1, dir + ": no config.json");
    }
}
