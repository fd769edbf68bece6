package dev.lowbit.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.bindings.cblas.cblas_h;
import dev.lowbit.bindings.lapack.lapack_h;
import dev.lowbit.bindings.lowbit.lb_qweight;
import dev.lowbit.bindings.lowbit.lowbit_h;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The bindings and the built libraries agree: every bound symbol exists, every lb_* export is bound. */
class BindingsSymbolsTest {
    /** Names of the functions a jextract header class binds (one {@code NAME$address()} each). */
    static Set<String> boundFunctions(Class<?> header) {
        Set<String> names = new TreeSet<>();
        for (Method m : header.getDeclaredMethods())
            if (Modifier.isStatic(m.getModifiers()) && m.getName().endsWith("$address") && m.getParameterCount() == 0)
                names.add(m.getName().substring(0, m.getName().length() - "$address".length()));
        return names;
    }

    /** Resolves each bound symbol through the bindings' own lookup; a missing one throws. */
    static void resolveAll(Class<?> header) throws ReflectiveOperationException {
        for (String name : boundFunctions(header)) {
            try {
                header.getMethod(name + "$address").invoke(null);
            } catch (InvocationTargetException e) {
                throw new AssertionError(
                        header.getSimpleName() + " binds " + name + ", which the library does not export",
                        e.getCause());
            }
        }
    }

    /** Every function header binds resolves, and library exports each of them. */
    static void assertBindsOnlyExports(Class<?> header, Path library) throws Exception {
        resolveAll(header);
        assertTrue(
                ElfSymbols.exportedFunctions(library).containsAll(boundFunctions(header)),
                library + " exports every function " + header.getSimpleName() + " binds");
    }

    @Test
    void lowbitBindingsAndLibraryExportTheSameFunctions() throws Exception {
        Path lib = NativeLibraries.loadLowbit();
        resolveAll(lowbit_h.class);
        Set<String> exported = new TreeSet<>();
        for (String s : ElfSymbols.exportedFunctions(lib)) if (s.startsWith("lb_")) exported.add(s);
        assertTrue(exported.contains("lb_cpu_dequant_gemm"), "ELF reader found " + exported);
        assertEquals(
                exported,
                boundFunctions(lowbit_h.class),
                "lb_* functions exported by " + lib + " vs bound in lowbit_h");
    }

    @Test
    void cblasBindingsResolve() throws Exception {
        assertBindsOnlyExports(cblas_h.class, NativeLibraries.loadBlas());
        assertTrue(boundFunctions(cblas_h.class).contains("cblas_sgemm"));
    }

    /** OpenBLAS exports LAPACK's Fortran symbols; GPTQ's Cholesky goes through them. */
    @Test
    void lapackBindingsResolveInTheBlasLibrary() throws Exception {
        assertBindsOnlyExports(lapack_h.class, NativeLibraries.loadBlas());
        assertEquals(Set.of("dpotrf_", "dpotri_"), boundFunctions(lapack_h.class));
    }

    @Test
    void qweightLayoutMatchesTheCStruct() {
        // the same numbers are asserted at compile time in native/tests/test_cpu_api.c
        assertEquals(56, lb_qweight.sizeof());
        assertEquals(24, lb_qweight.n$offset());
        assertEquals(40, lb_qweight.bits$offset());
        assertEquals(52, lb_qweight.reserved$offset());
    }

    @Test
    void downcallsWork() {
        NativeLibraries.loadLowbit();
        assertEquals(41, lowbit_h.lb_nop(41));
        assertTrue(lowbit_h.lb_version().reinterpret(32).getString(0).matches("\\d+\\.\\d+\\.\\d+"));
    }
}
