package dev.lowbit.bench.peers;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.kernels.cpu.SimdLevel;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The subset of ggml (llama.cpp's tensor library) the peer benchmarks call, through FFM: contexts,
 * 2-D tensors, quantize_chunk, mul_mat graphs and the CPU graph compute. The libraries come from the
 * npm package @node-llama-cpp/linux-x64, which the bench build unpacks into bench/target/peers/ggml
 * (or point -Dlowbit.ggml.dir / LOWBIT_GGML_DIR at a folder with libggml-base.so and libggml-cpu-*.so).
 */
public final class Ggml {
    /**
     * ggml_type values (stable across ggml releases); Q4_0x8 is Q4_0 in the CPU backend's repack buffer,
     * which llama.cpp uses at load: interleaved 8-row blocks (block_q4_0x8) and their own GEMV/GEMM.
     */
    public enum Type {
        F32(0, false),
        Q4_0(2, false),
        Q4_0x8(2, true),
        Q8_0(8, false),
        Q4_K(12, false);

        final int id;
        final boolean repacked;

        Type(int id, boolean repacked) {
            this.id = id;
            this.repacked = repacked;
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
            graphOverhead,
            cpuBufferType,
            allocCtxTensorsFromBuft,
            tensorSet,
            bufferFree,
            graphCompute,
            backendFree,
            regDevGet,
            regGetProcAddress,
            backendCpuInit,
            backendCpuReg,
            backendSetThreads,
            buftName;
    private final String variant;

    private Ggml(Path dir) {
        Path base = dir.resolve("libggml-base.so");
        if (!Files.isRegularFile(base))
            throw new IllegalStateException("ggml not found in " + dir
                    + " (needs libggml-base.so and libggml-cpu-*.so): build bench/ with npm on the PATH, or set"
                    + " LOWBIT_GGML_DIR");
        // the base library first: the CPU one names it as NEEDED and finds it loaded
        SymbolLookup b = SymbolLookup.libraryLookup(base, Arena.global());
        variant = variant(dir);
        SymbolLookup c = SymbolLookup.libraryLookup(dir.resolve("libggml-cpu-" + variant + ".so"), Arena.global());
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
        cpuBufferType = l.downcallHandle(symbol(b, "ggml_backend_cpu_buffer_type"), FunctionDescriptor.of(ADDRESS));
        allocCtxTensorsFromBuft = l.downcallHandle(
                symbol(b, "ggml_backend_alloc_ctx_tensors_from_buft"),
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        tensorSet = l.downcallHandle(
                symbol(b, "ggml_backend_tensor_set"),
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
        bufferFree = l.downcallHandle(symbol(b, "ggml_backend_buffer_free"), FunctionDescriptor.ofVoid(ADDRESS));
        graphCompute = l.downcallHandle(
                symbol(b, "ggml_backend_graph_compute"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        backendFree = l.downcallHandle(symbol(b, "ggml_backend_free"), FunctionDescriptor.ofVoid(ADDRESS));
        regDevGet = l.downcallHandle(
                symbol(b, "ggml_backend_reg_dev_get"), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG));
        regGetProcAddress = l.downcallHandle(
                symbol(b, "ggml_backend_reg_get_proc_address"), FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        backendCpuInit = l.downcallHandle(symbol(c, "ggml_backend_cpu_init"), FunctionDescriptor.of(ADDRESS));
        backendCpuReg = l.downcallHandle(symbol(c, "ggml_backend_cpu_reg"), FunctionDescriptor.of(ADDRESS));
        backendSetThreads = l.downcallHandle(
                symbol(c, "ggml_backend_cpu_set_n_threads"), FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT));
        buftName = l.downcallHandle(symbol(b, "ggml_backend_buft_name"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        MethodHandle cpuInit = l.downcallHandle(symbol(c, "ggml_cpu_init"), FunctionDescriptor.ofVoid());
        try {
            cpuInit.invokeExact(); // fp16 tables and CPU feature detection
        } catch (Throwable t) {
            throw new IllegalStateException("ggml_cpu_init failed: " + t);
        }
    }

    /**
     * The CPU library llama.cpp itself would load: the variant whose ggml_backend_score is highest on
     * this CPU (zen4 or skylakex where there is AVX-512). Where lowbit is held to a lower SIMD level
     * (LOWBIT_SIMD), ggml is held to the same one, haswell for AVX2 and x64 for scalar, so both sides
     * of a comparison use the same instructions.
     */
    private static String variant(Path dir) {
        SimdLevel level = Native.simdLevel();
        if (level != SimdLevel.AVX512) {
            String v = level == SimdLevel.AVX2 ? "haswell" : "x64";
            if (!Files.isRegularFile(dir.resolve("libggml-cpu-" + v + ".so")))
                throw new IllegalStateException("ggml in " + dir + " lacks libggml-cpu-" + v + ".so");
            return v;
        }
        String best = null;
        int bestScore = 0;
        try (DirectoryStream<Path> libraries = Files.newDirectoryStream(dir, "libggml-cpu-*.so")) {
            for (Path library : libraries) {
                int score = score(library);
                if (score > bestScore) {
                    bestScore = score;
                    String name = library.getFileName().toString();
                    best = name.substring("libggml-cpu-".length(), name.length() - ".so".length());
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + dir + ": " + e.getMessage());
        }
        if (best == null) throw new IllegalStateException("no libggml-cpu-*.so in " + dir + " runs on this CPU");
        return best;
    }

    /** A CPU variant's own ggml_backend_score: 0 where this CPU lacks its instructions, higher for better ones. */
    private static int score(Path library) {
        try (Arena scope = Arena.ofConfined()) {
            MemorySegment f = SymbolLookup.libraryLookup(library, scope)
                    .find("ggml_backend_score")
                    .orElse(null);
            if (f == null) return 0;
            return (int) Linker.nativeLinker()
                    .downcallHandle(f, FunctionDescriptor.of(JAVA_INT))
                    .invokeExact();
        } catch (Throwable t) {
            return 0; // a variant that does not load is not a candidate
        }
    }

    /**
     * The CPU backend's repack buffer type ("CPU_REPACK"), one of the extra buffer types its device
     * offers through ggml_backend_dev_get_extra_bufts; null where this build has none.
     */
    MemorySegment repackBufferType() throws Throwable {
        MemorySegment reg = (MemorySegment) backendCpuReg.invokeExact();
        MemorySegment device = (MemorySegment) regDevGet.invokeExact(reg, 0L);
        MemorySegment get;
        try (Arena a = Arena.ofConfined()) {
            get = (MemorySegment)
                    regGetProcAddress.invokeExact(reg, a.allocateFrom("ggml_backend_dev_get_extra_bufts"));
        }
        if (get.equals(MemorySegment.NULL)) return null;
        MemorySegment list = (MemorySegment) Linker.nativeLinker()
                .downcallHandle(get, FunctionDescriptor.of(ADDRESS, ADDRESS))
                .invokeExact(device);
        for (long i = 0; !list.equals(MemorySegment.NULL); i++) {
            MemorySegment buft = list.reinterpret((i + 1) * ADDRESS.byteSize()).getAtIndex(ADDRESS, i);
            if (buft.equals(MemorySegment.NULL)) return null;
            String name =
                    ((MemorySegment) buftName.invokeExact(buft)).reinterpret(64).getString(0);
            if (name.equals("CPU_REPACK")) return buft;
        }
        return null;
    }

    /** The CPU library in use, e.g. "zen4". */
    public String variant() {
        return variant;
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
