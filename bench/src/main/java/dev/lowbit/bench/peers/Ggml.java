package dev.lowbit.bench.peers;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The subset of ggml (llama.cpp's tensor library) the peer benchmarks call, through FFM: contexts,
 * 2-D tensors, quantize_chunk, mul_mat graphs and the CPU graph compute. The libraries come from the
 * npm package @node-llama-cpp/linux-x64, which the bench build unpacks into bench/target/peers/ggml
 * (or point -Dlowbit.ggml.dir / LOWBIT_GGML_DIR at a folder with libggml-base.so and libggml-cpu-*.so).
 */
public final class Ggml {
    /** ggml_type values (stable across ggml releases). */
    public enum Type {
        F32(0),
        Q4_0(2),
        Q8_0(8),
        Q4_K(12);

        final int id;

        Type(int id) {
            this.id = id;
        }
    }

    /** struct ggml_init_params { size_t mem_size; void *mem_buffer; bool no_alloc; }, passed by value. */
    static final StructLayout INIT_PARAMS = MemoryLayout.structLayout(
            JAVA_LONG.withName("mem_size"),
            ADDRESS.withName("mem_buffer"),
            JAVA_BOOLEAN.withName("no_alloc"),
            MemoryLayout.paddingLayout(7));

    private static final Ggml INSTANCE;
    private static final String UNAVAILABLE;

    static {
        Ggml g = null;
        String why = null;
        try {
            g = new Ggml(directory());
        } catch (RuntimeException | LinkageError e) {
            why = e.getMessage();
        }
        INSTANCE = g;
        UNAVAILABLE = why;
    }

    final MethodHandle init,
            free,
            newTensor2d,
            mulMat,
            newGraph,
            buildForwardExpand,
            graphComputeWithCtx,
            quantizeChunk,
            getData,
            nbytes,
            tensorOverhead,
            graphOverhead;

    private Ggml(Path dir) {
        Path base = dir.resolve("libggml-base.so");
        String variant = Native.maxSimdLevel() == SimdLevel.SCALAR ? "x64" : "haswell";
        Path cpu = dir.resolve("libggml-cpu-" + variant + ".so");
        if (!Files.isRegularFile(base) || !Files.isRegularFile(cpu))
            throw new IllegalStateException("ggml not found in " + dir + " (needs libggml-base.so and libggml-cpu-"
                    + variant + ".so): build bench/ with npm on the PATH, or set LOWBIT_GGML_DIR");
        // the base library first: the CPU one names it as NEEDED and finds it loaded
        SymbolLookup b = SymbolLookup.libraryLookup(base, Arena.global()),
                c = SymbolLookup.libraryLookup(cpu, Arena.global());
        Linker l = Linker.nativeLinker();
        init = l.downcallHandle(symbol(b, "ggml_init"), FunctionDescriptor.of(ADDRESS, INIT_PARAMS));
        free = l.downcallHandle(symbol(b, "ggml_free"), FunctionDescriptor.ofVoid(ADDRESS));
        newTensor2d = l.downcallHandle(
                symbol(b, "ggml_new_tensor_2d"),
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG));
        mulMat = l.downcallHandle(symbol(b, "ggml_mul_mat"), FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        newGraph = l.downcallHandle(symbol(b, "ggml_new_graph"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        buildForwardExpand =
                l.downcallHandle(symbol(b, "ggml_build_forward_expand"), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
        quantizeChunk = l.downcallHandle(
                symbol(b, "ggml_quantize_chunk"),
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
        getData = l.downcallHandle(symbol(b, "ggml_get_data"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        nbytes = l.downcallHandle(symbol(b, "ggml_nbytes"), FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        tensorOverhead = l.downcallHandle(symbol(b, "ggml_tensor_overhead"), FunctionDescriptor.of(JAVA_LONG));
        graphOverhead = l.downcallHandle(symbol(b, "ggml_graph_overhead"), FunctionDescriptor.of(JAVA_LONG));
        graphComputeWithCtx = l.downcallHandle(
                symbol(c, "ggml_graph_compute_with_ctx"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        MethodHandle cpuInit = l.downcallHandle(symbol(c, "ggml_cpu_init"), FunctionDescriptor.ofVoid());
        try {
            cpuInit.invokeExact(); // fp16 tables and CPU feature detection
        } catch (Throwable t) {
            throw new IllegalStateException("ggml_cpu_init failed: " + t);
        }
    }

    private static MemorySegment symbol(SymbolLookup lookup, String name) {
        return lookup.find(name)
                .orElseThrow(() ->
                        new IllegalStateException("ggml lacks " + name + "; use @node-llama-cpp/linux-x64 3.22.1"));
    }

    static Path directory() {
        String p = System.getProperty("lowbit.ggml.dir", System.getenv("LOWBIT_GGML_DIR"));
        if (p != null && !p.isBlank()) return Path.of(p);
        return Path.of(System.getProperty("lowbit.home", "."))
                .resolve("bench/target/peers/ggml")
                .toAbsolutePath()
                .normalize();
    }

    /** The loaded library, or an exception whose message says why it is not there and how to get it. */
    public static Ggml get() {
        if (INSTANCE == null) throw new IllegalStateException(UNAVAILABLE);
        return INSTANCE;
    }

    public static boolean available() {
        return INSTANCE != null;
    }

    /** Why ggml did not load (and how to get it), or null when it did. */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    static RuntimeException rethrow(Throwable t) {
        return t instanceof RuntimeException r ? r : new IllegalStateException(t);
    }
}
