package dev.lowbit.bindings;

import dev.lowbit.bindings.llama.llama_h;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Comparator;

/**
 * Loads the native libraries the generated bindings look up (they use {@code
 * SymbolLookup.loaderLookup()}, so a library must be loaded through this class before the first
 * downcall).
 *
 * <p>liblowbit comes from {@code -Dlowbit.native.dir} or {@code LOWBIT_NATIVE_DIR} when set,
 * otherwise from {@code native/<os>-<arch>/} inside the jar, extracted to a temporary folder.
 * CBLAS comes from {@code -Dlowbit.blas} or {@code LOWBIT_BLAS} (a file path) when set, otherwise
 * from the first of openblas-openmp/libopenblas.so.0 (Debian's libopenblas0-openmp), libopenblas.so.0,
 * libopenblas.so, libcblas.so.3, libblas.so.3 found on the library search path.
 *
 * <p>The CUDA backend: liblowbit_cuda from the same place as liblowbit; the CUDA runtime and cuBLAS
 * (any installed major version) from {@code -Dlowbit.cuda.libs} or {@code LOWBIT_CUDA_LIBS} (folders,
 * colon-separated) when set, then LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda*, the system library
 * folders and the {@code nvidia/*}{@code /lib} folders of Python's site-packages (PyTorch's wheels carry
 * libcublas there). Nothing CUDA is linked: a machine without it never loads these.
 */
public final class NativeLibraries {
    /* Debian's OpenMP build of OpenBLAS first: it runs on liblowbit's libgomp threads, one pool for all native
     * compute, where the pthreads build keeps a second pool that competes for the cores (bench/thread-pool.sh). */
    private static final String[] BLAS_NAMES = {
        "openblas-openmp/libopenblas.so.0", "libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"
    };
    private static final String[] SYSTEM_LIB_DIRS = {
        "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib", "/lib64"};

    private static final String[] CUDART_NAMES = {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"};
    private static final String[] CUBLAS_NAMES = {"libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11"};

    /** System property choosing libgomp's wait policy (ACTIVE or PASSIVE) for embedding users. */
    public static final String WAIT_POLICY_PROPERTY = "lowbit.omp.waitPolicy";

    private static String waitPolicyOrigin;
    private static Path lowbit;
    private static Path lowbitCuda;
    private static Path cudart;
    private static Path cublas;
    private static String lowbitOrigin;
    private static Path blas;
    private static Path llama;
    private static Path extractedDir;

    private NativeLibraries() {}

    /** {@code linux-x86_64} and the like: the folder name the build packs libraries under. */
    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "darwin" : os.replace(' ', '_');
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    /** Loads liblowbit once and returns the file it was loaded from. */
    public static synchronized Path loadLowbit() {
        if (lowbit == null) {
            Path file = locate(System.mapLibraryName("lowbit"))
                    .orElseThrow(() -> new UnsatisfiedLinkError("liblowbit not found: not in -Dlowbit.native.dir / "
                            + "LOWBIT_NATIVE_DIR, and no native/" + platform() + "/ in the jar. Build it with ./test "
                            + "or ./lowbit (CMake), or point LOWBIT_NATIVE_DIR at native/build/lib/" + platform()));
            prepareOpenMp();
            System.load(file.toString());
            lowbit = file;
            lowbitOrigin = configuredNativeDir() != null ? "from -Dlowbit.native.dir / LOWBIT_NATIVE_DIR"
                    : "extracted from the jar's native/" + platform() + "/";
        }
        return lowbit;
    }

    /**
     * Chooses libgomp's wait policy before the first library that brings libgomp in loads (it reads
     * OMP_WAIT_POLICY once, at load): {@code -Dlowbit.omp.waitPolicy=ACTIVE|PASSIVE} when set, else the
     * user's OMP_WAIT_POLICY, else PASSIVE. libgomp's own default keeps idle threads spinning, which takes
     * the cores of a small machine from OpenBLAS's threads (and the JVM's) between kernels. Embedding code
     * that loads libgomp itself before lowbit must set the variable itself.
     */
    private static void prepareOpenMp() {
        if (waitPolicyOrigin != null) return;
        String chosen = System.getProperty(WAIT_POLICY_PROPERTY);
        if (chosen != null && !chosen.isBlank()) {
            String policy = chosen.trim().toUpperCase(Locale.ROOT);
            if (!policy.equals("ACTIVE") && !policy.equals("PASSIVE"))
                throw new IllegalArgumentException("-D" + WAIT_POLICY_PROPERTY + "=" + chosen
                        + " is not a wait policy: use ACTIVE (idle OpenMP threads spin) or PASSIVE (they sleep)");
            setEnvironment("OMP_WAIT_POLICY", policy, true);
            waitPolicyOrigin = "-D" + WAIT_POLICY_PROPERTY;
        } else if (System.getenv("OMP_WAIT_POLICY") != null) {
            waitPolicyOrigin = "OMP_WAIT_POLICY";
        } else {
            setEnvironment("OMP_WAIT_POLICY", "PASSIVE", false);
            waitPolicyOrigin = "lowbit's default";
        }
    }

    /**
     * libgomp's wait policy for this process and who chose it, e.g. "PASSIVE (lowbit's default)", after
     * {@link #loadLowbit()}.
     */
    public static synchronized String ompWaitPolicy() {
        loadLowbit();
        Linker linker = Linker.nativeLinker();
        MethodHandle getenv = linker.downcallHandle(
                linker.defaultLookup().find("getenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = (MemorySegment) getenv.invokeExact(arena.allocateFrom("OMP_WAIT_POLICY"));
            return value.reinterpret(64).getString(0) + " (" + waitPolicyOrigin + ")";
        } catch (Throwable e) {
            throw new IllegalStateException("getenv(OMP_WAIT_POLICY) failed", e);
        }
    }

    private static void setEnvironment(String name, String value, boolean overwrite) {
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.downcallHandle(
                linker.defaultLookup().find("setenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        int status;
        try (Arena arena = Arena.ofConfined()) {
            status = (int) setenv.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), overwrite ? 1 : 0);
        } catch (Throwable e) {
            throw new IllegalStateException("setenv(" + name + ") failed", e);
        }
        if (status != 0) throw new IllegalStateException("setenv(" + name + ") failed");
    }

    /** Where the loaded liblowbit came from, in words (after {@link #loadLowbit()}). */
    public static synchronized String lowbitOrigin() {
        loadLowbit();
        return lowbitOrigin;
    }

    /**
     * Path of a library of this project (e.g. "liblowbit_cuda.so") from the same place liblowbit
     * comes from, if it is there; it is not loaded.
     */
    public static synchronized Optional<Path> locate(String fileName) {
        String dir = configuredNativeDir();
        if (dir != null) {
            Path p = Path.of(dir, fileName);
            return Files.isRegularFile(p) ? Optional.of(p.toAbsolutePath()) : Optional.empty();
        }
        return extractFromJar(fileName);
    }

    /**
     * Loads llama.cpp's prebuilt libraries from dir (libggml-base.so, libggml.v*.so, libllama.v*.so, as
     * the npm package @node-llama-cpp/linux-x64 ships them) for {@code dev.lowbit.bindings.llama}, then
     * has ggml load its CPU backends from there: ggml scores every libggml-cpu-*.so variant against this
     * CPU's features and keeps the best (zen4, icelake, skylakex ... on AVX-512 machines).
     */
    public static synchronized Path loadLlama(Path dir) {
        if (llama == null) {
            Path base = dir.resolve("libggml-base.so");
            Path ggml = versioned(dir, "libggml.v"), lib = versioned(dir, "libllama.v");
            if (!Files.isRegularFile(base) || ggml == null || lib == null)
                throw new UnsatisfiedLinkError("llama.cpp not found in " + dir + " (needs libggml-base.so, libggml.v*.so, "
                        + "libllama.v*.so): build bench/ with npm on the PATH (bench/fetch-ggml.sh), or set LOWBIT_GGML_DIR");
            for (Path p : List.of(base, ggml, lib)) System.load(p.toAbsolutePath().toString());
            try (Arena arena = Arena.ofConfined()) {
                llama_h.ggml_backend_load_all_from_path(arena.allocateFrom(dir.toAbsolutePath().toString()));
            }
            llama_h.llama_backend_init();
            llama = dir.toAbsolutePath();
        }
        return llama;
    }

    private static Path versioned(Path dir, String prefix) {
        try (var files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().startsWith(prefix)
                            && f.getFileName().toString().endsWith(".so"))
                    .sorted()
                    .findFirst()
                    .orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    /** Loads CBLAS once and returns the file it was loaded from. */
    public static synchronized Path loadBlas() {
        if (blas == null) {
            Path file = findBlas();
            prepareOpenMp(); // an OpenMP build of OpenBLAS brings libgomp in with it
            System.load(file.toString());
            blas = file;
        }
        return blas;
    }

    private static Path findBlas() {
        String configured = firstNonBlank(System.getProperty("lowbit.blas"), System.getenv("LOWBIT_BLAS"));
        if (configured != null) {
            Path p = Path.of(configured);
            if (!Files.isRegularFile(p)) throw new UnsatisfiedLinkError("LOWBIT_BLAS / -Dlowbit.blas names " + p + ", which is not a file");
            return p.toAbsolutePath();
        }
        List<String> dirs = new ArrayList<>(ldLibraryPath());
        dirs.addAll(List.of(SYSTEM_LIB_DIRS));
        return findFirst(BLAS_NAMES, dirs).orElseThrow(() -> new UnsatisfiedLinkError("no CBLAS library found (looked for "
                + String.join(", ", BLAS_NAMES) + " in " + String.join(":", dirs) + "). Install OpenBLAS (Debian/Ubuntu: "
                + "apt-get install libopenblas0-openmp) or set LOWBIT_BLAS to the library file"));
    }

    /** Loads liblowbit_cuda once (after liblowbit) and returns its file. */
    public static synchronized Path loadLowbitCuda() {
        if (lowbitCuda == null) {
            loadLowbit();
            Path file = locate(System.mapLibraryName("lowbit_cuda")).orElseThrow(() -> new UnsatisfiedLinkError(
                    "liblowbit_cuda was not built: the build makes it where nvcc (the CUDA toolkit) is installed"));
            System.load(file.toString());
            lowbitCuda = file;
        }
        return lowbitCuda;
    }

    /** Loads the CUDA runtime library once and returns its file. */
    public static synchronized Path loadCudart() {
        if (cudart == null) cudart = loadCudaLibrary(CUDART_NAMES, "cuda_runtime", "the CUDA runtime");
        return cudart;
    }

    /** Loads cuBLAS once and returns its file. */
    public static synchronized Path loadCublas() {
        if (cublas == null) cublas = loadCudaLibrary(CUBLAS_NAMES, "cublas", "cuBLAS");
        return cublas;
    }

    private static Path loadCudaLibrary(String[] names, String wheel, String what) {
        List<String> dirs = cudaLibraryDirs(wheel);
        Path file = findFirst(names, dirs).orElseThrow(() -> new UnsatisfiedLinkError(what + " not found (looked for "
                + String.join(", ", names) + " in " + String.join(":", dirs) + "). Install the CUDA toolkit or point "
                + "LOWBIT_CUDA_LIBS at the folder holding it"));
        System.load(file.toString());
        return file;
    }

    private static List<String> cudaLibraryDirs(String wheel) {
        List<String> dirs = new ArrayList<>();
        String configured = firstNonBlank(System.getProperty("lowbit.cuda.libs"), System.getenv("LOWBIT_CUDA_LIBS"));
        if (configured != null) dirs.addAll(List.of(configured.split(":")));
        dirs.addAll(ldLibraryPath());
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && !home.isBlank()) dirs.add(home + "/lib64");
        }
        dirs.add("/usr/local/cuda/lib64");
        dirs.addAll(children("/usr/local", "cuda-", "/lib64"));
        dirs.addAll(List.of(SYSTEM_LIB_DIRS));
        for (String prefix : new String[] {"/usr/lib", "/usr/local/lib", "/opt/conda/lib", System.getProperty("user.home") + "/.local/lib"})
            for (String python : children(prefix, "python3", ""))
                for (String packages : new String[] {"/site-packages", "/dist-packages"})
                    dirs.add(python + packages + "/nvidia/" + wheel + "/lib");
        return dirs;
    }

    /** Folders under parent whose names start with prefix (newest version first), each + suffix. */
    private static List<String> children(String parent, String prefix, String suffix) {
        try (var list = Files.list(Path.of(parent))) {
            return list.filter(p -> p.getFileName().toString().startsWith(prefix) && Files.isDirectory(p))
                    .map(p -> p + suffix).sorted(Comparator.reverseOrder()).toList();
        } catch (IOException | UncheckedIOException e) {
            return List.of();
        }
    }

    private static List<String> ldLibraryPath() {
        String ld = System.getenv("LD_LIBRARY_PATH");
        return ld == null ? List.of() : List.of(ld.split(":"));
    }

    private static Optional<Path> findFirst(String[] names, List<String> dirs) {
        for (String name : names)
            for (String d : dirs) {
                if (d.isBlank()) continue;
                Path p = Path.of(d, name);
                if (Files.isRegularFile(p)) return Optional.of(p.toAbsolutePath());
            }
        return Optional.empty();
    }

    private static String configuredNativeDir() {
        return firstNonBlank(System.getProperty("lowbit.native.dir"), System.getenv("LOWBIT_NATIVE_DIR"));
    }

    private static String firstNonBlank(String a, String b) {
        if (a != null && !a.isBlank()) return a;
        return b != null && !b.isBlank() ? b : null;
    }

    private static Optional<Path> extractFromJar(String fileName) {
        String resource = "/native/" + platform() + "/" + fileName;
        try (InputStream in = NativeLibraries.class.getResourceAsStream(resource)) {
            if (in == null) return Optional.empty();
            if (extractedDir == null) {
                extractedDir = Files.createTempDirectory("lowbit-native");
                extractedDir.toFile().deleteOnExit();
            }
            Path target = extractedDir.resolve(fileName);
            if (!Files.exists(target)) {
                Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                target.toFile().deleteOnExit();
            }
            return Optional.of(target);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract " + resource + " to a temporary folder", e);
        }
    }
}
