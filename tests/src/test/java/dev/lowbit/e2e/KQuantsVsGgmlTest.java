package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.bench.peers.LlamaCpp;
import dev.lowbit.bindings.llama.llama_h;
import dev.lowbit.runtime.io.gguf.GgmlType;
import dev.lowbit.runtime.io.gguf.KQuants;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * lowbit's K-quant dequantization against ggml's own: rows quantized by ggml_quantize_chunk, then
 * dequantized by ggml's type traits (to_float) and by {@link KQuants}; they must agree exactly.
 */
class KQuantsVsGgmlTest {
    private static final MethodHandle TO_FLOAT = Linker.nativeLinker()
            .downcallHandle(FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    @BeforeAll
    static void llamaCpp() {
        LlamaCppGgufTest.setUp();
        assumeTrue(LlamaCpp.available(), "llama.cpp is not available: " + LlamaCpp.unavailableReason());
    }

    @Test
    void q4kQ5kQ6kDequantizeAsGgmlDoes() throws Throwable {
        long rows = 6, cols = 512;
        Random rnd = new Random(19);
        float[] x = new float[(int) (rows * cols)];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (1 + i % 7));
        for (GgmlType type : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K})
            try (Arena arena = Arena.ofConfined()) {
                // struct ggml_type_traits { const char *type_name; int64_t blck_size, blck_size_interleave;
                //   size_t type_size; bool is_quantized; ggml_to_float_t to_float; ... }
                MemorySegment traits = llama_h.ggml_get_type_traits(type.id).reinterpret(56);
                assertEquals(type.blockSize, traits.get(ValueLayout.JAVA_LONG, 8), type + " block size");
                assertEquals(type.blockBytes, traits.get(ValueLayout.JAVA_LONG, 24), type + " block bytes");
                MemorySegment src = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
                MemorySegment q = arena.allocate(rows * type.rowBytes(cols), 64);
                long written = llama_h.ggml_quantize_chunk(type.id, src, q, 0, rows, cols, MemorySegment.NULL);
                assertEquals(q.byteSize(), written, type + " bytes quantized");
                MemorySegment theirs = arena.allocate(ValueLayout.JAVA_FLOAT, x.length);
                TO_FLOAT.invokeExact(traits.get(ValueLayout.ADDRESS, 40), q, theirs, (long) x.length);
                float[] ours = new float[x.length];
                KQuants.dequantize(type, q, ours);
                float[] expected = theirs.toArray(ValueLayout.JAVA_FLOAT);
                for (int i = 0; i < x.length; i++) assertEquals(expected[i], ours[i], 0f, type + " element " + i);
            }
    }
}
