package dev.lowbit.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** A safetensors file's layout, read independently of lowbit's reader, for tests that damage files on purpose. */
record Safetensors(long headerLength, JsonNode header) {
    static Safetensors read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new Safetensors(n, new ObjectMapper().readTree(new String(bytes, 8, (int) n, StandardCharsets.UTF_8)));
    }

    /** The absolute file offset of a tensor's first data byte. */
    long dataStart(String tensor) {
        return 8 + headerLength + header.get(tensor).get("data_offsets").get(0).asLong();
    }

    /** Overwrites the float32 element index of tensor with value. */
    static void setF32(Path file, String tensor, long index, float value) throws IOException {
        long at = read(file).dataStart(tensor) + 4 * index;
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) at, value);
        Files.write(file, bytes);
    }
}
