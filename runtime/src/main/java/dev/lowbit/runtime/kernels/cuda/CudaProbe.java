package dev.lowbit.runtime.kernels.cuda;

import dev.lowbit.bindings.NativeLibraries;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Whether a CUDA GPU can be used here, and why not: asks the NVIDIA driver (libcuda.so.1, loaded
 * by name, never linked) for its version and device count, and looks for liblowbit_cuda.
 */
final class CudaProbe {
    record Status(boolean usable, int driverVersion, int devices, String detail) {}

    private CudaProbe() {}

    static Status probe() {
        Arena arena = Arena.global();
        SymbolLookup driver;
        try {
            driver = SymbolLookup.libraryLookup("libcuda.so.1", arena);
        } catch (IllegalArgumentException notFound) {
            return new Status(false, 0, 0, "no NVIDIA driver (libcuda.so.1 not found)");
        }
        try {
            int init = call(driver, "cuInit", 0);
            if (init != 0)
                return new Status(false, 0, 0, "NVIDIA driver present but cuInit failed with CUresult " + init);
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            int version = callOut(driver, "cuDriverGetVersion", out) == 0 ? out.get(ValueLayout.JAVA_INT, 0) : 0;
            int devices = callOut(driver, "cuDeviceGetCount", out) == 0 ? out.get(ValueLayout.JAVA_INT, 0) : 0;
            String driverText =
                    "driver CUDA " + version / 1000 + "." + (version % 1000) / 10 + ", " + devices + " device(s)";
            if (devices == 0) return new Status(false, version, 0, driverText + ": no GPU");
            boolean built =
                    NativeLibraries.locate(System.mapLibraryName("lowbit_cuda")).isPresent();
            return new Status(
                    built,
                    version,
                    devices,
                    built ? driverText : driverText + "; liblowbit_cuda is not built (needs nvcc when building)");
        } catch (Throwable t) {
            return new Status(false, 0, 0, "NVIDIA driver present but unusable: " + t.getMessage());
        }
    }

    /** The driver's name of GPU ordinal ("NVIDIA H100 80GB HBM3"), or "GPU n" if it cannot tell. */
    static String deviceName(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup driver = SymbolLookup.libraryLookup("libcuda.so.1", arena);
            MemorySegment dev = arena.allocate(ValueLayout.JAVA_INT), name = arena.allocate(256);
            MethodHandle get = Linker.nativeLinker()
                    .downcallHandle(
                            driver.find("cuDeviceGet").orElseThrow(),
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle getName = Linker.nativeLinker()
                    .downcallHandle(
                            driver.find("cuDeviceGetName").orElseThrow(),
                            FunctionDescriptor.of(
                                    ValueLayout.JAVA_INT,
                                    ValueLayout.ADDRESS,
                                    ValueLayout.JAVA_INT,
                                    ValueLayout.JAVA_INT));
            if ((int) get.invokeExact(dev, ordinal) != 0) return "GPU " + ordinal;
            if ((int) getName.invokeExact(name, 256, dev.get(ValueLayout.JAVA_INT, 0)) != 0) return "GPU " + ordinal;
            return name.getString(0);
        } catch (Throwable t) {
            return "GPU " + ordinal;
        }
    }

    private static int call(SymbolLookup lib, String name, int arg) throws Throwable {
        MethodHandle h = Linker.nativeLinker()
                .downcallHandle(
                        lib.find(name).orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        return (int) h.invokeExact(arg);
    }

    private static int callOut(SymbolLookup lib, String name, MemorySegment out) throws Throwable {
        MethodHandle h = Linker.nativeLinker()
                .downcallHandle(
                        lib.find(name).orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        return (int) h.invokeExact(out);
    }
}
