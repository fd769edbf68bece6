package dev.lowbit.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.bindings.cublas.cublas_h;
import dev.lowbit.bindings.cudart.cudart_h;
import dev.lowbit.bindings.lowbit_cuda.lowbit_cuda_h;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The CUDA bindings against the libraries: liblowbit_cuda loads without a GPU (cudart is linked
 * into it statically), so its exports are checked wherever it was built; the CUDA runtime and
 * cuBLAS wherever they are installed. Each check that cannot run here says why.
 */
class CudaBindingsTest {
    @Test
    void lowbitCudaBindingsAndLibraryExportTheSameFunctions() throws Exception {
        Assumptions.assumeTrue(
                NativeLibraries.locate(System.mapLibraryName("lowbit_cuda")).isPresent(),
                "liblowbit_cuda was not built here (no nvcc at build time)");
        Path lib = NativeLibraries.loadLowbitCuda();
        BindingsSymbolsTest.resolveAll(lowbit_cuda_h.class);
        Set<String> exported = new TreeSet<>();
        for (String s : ElfSymbols.exportedFunctions(lib)) if (s.startsWith("lb_")) exported.add(s);
        assertTrue(exported.contains("lb_cuda_dequant_gemm"), "ELF reader found " + exported);
        assertEquals(
                exported,
                BindingsSymbolsTest.boundFunctions(lowbit_cuda_h.class),
                "lb_* functions exported by " + lib + " vs bound in lowbit_cuda_h");
        // callable without a GPU: the build's runtime version, and a device count that is not an error
        assertTrue(
                lowbit_cuda_h.lb_cuda_runtime_version() >= 11000,
                "built with CUDA " + lowbit_cuda_h.lb_cuda_runtime_version());
        assertTrue(lowbit_cuda_h.lb_cuda_device_count() >= 0);
    }

    @Test
    void cudartBindingsResolve() throws Exception {
        BindingsSymbolsTest.assertBindsOnlyExports(
                cudart_h.class, loadOrSkip(NativeLibraries::loadCudart, "the CUDA runtime"));
        assertEquals("no error", cudart_h.cudaGetErrorString(0).reinterpret(64).getString(0));
    }

    @Test
    void cublasBindingsResolve() throws Exception {
        BindingsSymbolsTest.assertBindsOnlyExports(cublas_h.class, loadOrSkip(NativeLibraries::loadCublas, "cuBLAS"));
    }

    private static Path loadOrSkip(Supplier<Path> load, String what) {
        try {
            return load.get();
        } catch (UnsatisfiedLinkError e) {
            Assumptions.abort(what + " is not installed here: " + e.getMessage());
            throw e;
        }
    }
}
