package dev.lowbit.runtime.io.gguf;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.io.CheckpointException;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Corrupt, truncated and unsupported GGUF files get one clear CheckpointException each. */
class GgufFileErrorsTest {
    @TempDir
    Path dir;

    private byte[] valid() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            LlamaConfig c = new LlamaConfig(64, 128, 1, 4, 2, 40, 32, 1e-5f, 10000f, true);
            Path f = dir.resolve("ok.gguf");
            GgufExport.save(
                    new LlamaModel(LlamaParameters.initialize(arena, c, 3).weights()), Optional.empty(), "t", f);
            return Files.readAllBytes(f);
        }
    }

    private String failure(byte[] bytes) throws IOException {
        Path f = dir.resolve("bad.gguf");
        Files.write(f, bytes);
        try (Arena arena = Arena.ofShared()) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ModelFiles.open(f.toString(), arena));
            assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertTrue(e.getMessage().startsWith(f.toString()), "names the file: " + e.getMessage());
            return e.getMessage();
        }
    }

    @Test
    void theValidFileLoads() throws IOException {
        byte[] ok = valid();
        Path f = dir.resolve("again.gguf");
        Files.write(f, ok);
        try (Arena arena = Arena.ofShared()) {
            assertTrue(ModelFiles.open(f.toString(), arena).model().config().dim() == 64);
        }
    }

    @Test
    void truncatedAnywhereIsSaidSo() throws IOException {
        byte[] ok = valid();
        for (int cut : new int[] {30, 200, 1000, ok.length / 2, ok.length - 1}) {
            String m = failure(Arrays.copyOf(ok, cut));
            assertTrue(m.contains("truncated"), cut + ": " + m);
        }
    }

    @Test
    void badMagicVersionAndTypeAreNamed() throws IOException {
        byte[] ok = valid();
        byte[] magic = ok.clone();
        magic[0] = 'X';
        assertTrue(failure(magic).contains("GGUF magic"));
        byte[] version = ok.clone();
        ByteBuffer.wrap(version).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 9);
        assertTrue(failure(version).contains("version 9"));
        assertTrue(failure(Arrays.copyOf(ok, 3)).contains("GGUF magic"));
    }

    @Test
    void anotherArchitectureIsRefused() throws IOException {
        byte[] ok = valid();
        String s = new String(ok, StandardCharsets.ISO_8859_1);
        int at = s.indexOf("llama", s.indexOf("general.architecture"));
        byte[] other = ok.clone();
        System.arraycopy("gemma".getBytes(), 0, other, at, 5);
        assertTrue(failure(other).contains("architecture 'gemma'"));
    }

    @Test
    void anUnknownTensorTypeIsNamed() throws IOException {
        byte[] ok = valid();
        String s = new String(ok, StandardCharsets.ISO_8859_1);
        // the tensor info of token_embd.weight: name, n_dims 2, two dims, then its type (F32 = 0)
        int at = s.indexOf("token_embd.weight") + "token_embd.weight".length() + 4 + 16;
        byte[] bad = ok.clone();
        ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(at, 23); // IQ4_XS
        String m = failure(bad);
        assertTrue(m.contains("ggml type 23"), m);
    }
}
