package dev.lowbit.runtime.kernels.cuda;

import dev.lowbit.bindings.NativeLibraries;
import dev.lowbit.bindings.cudart.cudart_h;
import dev.lowbit.bindings.lowbit.lowbit_h;
import dev.lowbit.bindings.lowbit_cuda.lowbit_cuda_h;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.cpu.Native;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA side of the runtime: whether a GPU can be used (and why not), device memory owned by
 * arenas, host/device copies and device queries, through the CUDA runtime (libcudart, loaded by
 * name) and liblowbit_cuda. Kernels run on the thread's {@link CudaStream} in use, else the device's
 * legacy default stream; copies with {@link Tensor#to} wait for both. Device memory segments hold
 * device addresses: never read them from Java.
 */
public final class Cuda {
    /** One GPU as the runtime sees it. */
    public record Gpu(
            int index, String name, int major, int minor, int multiprocessors, long totalBytes, long freeBytes) {
        @Override
        public String toString() {
            return String.format(
                    "cuda:%d %s (sm_%d%d, %d SMs, %.1f GiB, %.1f GiB free)",
                    index, name, major, minor, multiprocessors, totalBytes / 1073741824.0, freeBytes / 1073741824.0);
        }
    }

    private record State(boolean usable, int devices, String reason) {}

    private static volatile State state;

    private Cuda() {}

    /** Whether CUDA tensors and kernels can be used here. */
    public static boolean available() {
        return state().usable;
    }

    /** Why CUDA cannot be used here ("" when it can). */
    public static String unavailableReason() {
        return state().reason;
    }

    public static int deviceCount() {
        return state().usable ? state().devices : 0;
    }

    private static State state() {
        State s = state;
        if (s == null) {
            synchronized (Cuda.class) {
                if (state == null) state = probe();
                s = state;
            }
        }
        return s;
    }

    private static State probe() {
        CudaProbe.Status driver = CudaProbe.probe();
        if (!driver.usable()) return new State(false, 0, driver.detail());
        try {
            NativeLibraries.loadLowbitCuda();
            NativeLibraries.loadCudart();
        } catch (UnsatisfiedLinkError e) {
            return new State(false, 0, e.getMessage());
        }
        int devices = lowbit_cuda_h.lb_cuda_device_count();
        return devices > 0 ? new State(true, devices, "") : new State(false, 0, "the CUDA runtime sees no GPU");
    }

    /** The stream this thread's work on GPU d is queued on: the {@link CudaStream} in use, else the default stream. */
    public static MemorySegment stream(Device d) {
        return CudaStream.current(d);
    }

    /** Throws unless device is a CUDA device present here; makes it the current one on this thread. */
    public static void use(Device device) {
        if (device.kind() != Device.Kind.CUDA) throw new LowbitException(device + " is not a CUDA device");
        if (!available())
            throw new LowbitException("CUDA is not available here: " + unavailableReason()
                    + ". Use Device.CPU (on the command line: --device cpu)");
        if (device.index() >= deviceCount())
            throw new LowbitException(device + " does not exist: this machine has " + deviceCount() + " GPU(s)");
        check(cudart_h.cudaSetDevice(device.index()), "select " + device);
    }

    /** The GPUs with their properties. */
    public static List<Gpu> gpus() {
        List<Gpu> out = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(ValueLayout.JAVA_INT), b = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment c = arena.allocate(ValueLayout.JAVA_INT), free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            for (int i = 0; i < deviceCount(); i++) {
                use(new Device(Device.Kind.CUDA, i));
                check(
                        cudart_h.cudaDeviceGetAttribute(a, cudart_h.cudaDevAttrComputeCapabilityMajor(), i),
                        "query device");
                check(
                        cudart_h.cudaDeviceGetAttribute(b, cudart_h.cudaDevAttrComputeCapabilityMinor(), i),
                        "query device");
                check(cudart_h.cudaDeviceGetAttribute(c, cudart_h.cudaDevAttrMultiProcessorCount(), i), "query device");
                check(cudart_h.cudaMemGetInfo(free, total), "query device memory");
                out.add(new Gpu(
                        i,
                        CudaProbe.deviceName(i),
                        a.get(ValueLayout.JAVA_INT, 0),
                        b.get(ValueLayout.JAVA_INT, 0),
                        c.get(ValueLayout.JAVA_INT, 0),
                        total.get(ValueLayout.JAVA_LONG, 0),
                        free.get(ValueLayout.JAVA_LONG, 0)));
            }
        }
        return out;
    }

    /** "runtime 13.0, driver 13.0, liblowbit_cuda 0.1.0 (built with CUDA 13.0)". */
    public static String versions() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cudart_h.cudaRuntimeGetVersion(v), "runtime version");
            int runtime = v.get(ValueLayout.JAVA_INT, 0);
            check(cudart_h.cudaDriverGetVersion(v), "driver version");
            int driver = v.get(ValueLayout.JAVA_INT, 0);
            return "runtime " + version(runtime) + ", driver " + version(driver) + ", liblowbit_cuda "
                    + lowbit_cuda_h.lb_cuda_version().reinterpret(64).getString(0) + " (built with CUDA "
                    + version(lowbit_cuda_h.lb_cuda_runtime_version()) + ")";
        }
    }

    /** cuBLAS's version number (e.g. 130100) as loaded for device. */
    public static int cublasVersion(Device device) {
        return Cublas.version(device);
    }

    static String version(int v) {
        return v / 1000 + "." + (v % 1000) / 10;
    }

    /** bytes of device memory on device, zero-filled, freed when arena closes. */
    public static MemorySegment allocate(Arena arena, Device device, long bytes) {
        use(device);
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment out = tmp.allocate(ValueLayout.ADDRESS);
            check(cudart_h.cudaMalloc(out, bytes), "allocate " + bytes + " bytes on " + device);
            MemorySegment ptr = out.get(ValueLayout.ADDRESS, 0);
            // queued on the default stream, before every kernel and copy the runtime issues: no need to wait
            int zeroed = cudart_h.cudaMemsetAsync(ptr, 0, bytes, MemorySegment.NULL);
            if (zeroed != 0) {
                cudart_h.cudaFree(ptr);
                check(zeroed, "zero " + bytes + " bytes on " + device);
            }
            return ptr.reinterpret(bytes, arena, Cuda::free);
        }
    }

    private static void free(MemorySegment ptr) {
        cudart_h.cudaFree(ptr); // at arena close: a failure here has no caller to report to
    }

    /** bytes of page-locked host memory (fast, asynchronous copies to and from GPUs), zero-filled, freed when arena closes. */
    public static MemorySegment allocatePinned(Arena arena, long bytes) {
        if (!available())
            throw new LowbitException(
                    "pinned host memory needs CUDA, which is not available here: " + unavailableReason());
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment out = tmp.allocate(ValueLayout.ADDRESS);
            check(
                    cudart_h.cudaHostAlloc(out, Math.max(bytes, 1), cudart_h.cudaHostAllocDefault()),
                    "allocate " + bytes + " pinned bytes");
            MemorySegment host =
                    out.get(ValueLayout.ADDRESS, 0).reinterpret(bytes, arena, p -> cudart_h.cudaFreeHost(p));
            host.fill((byte) 0);
            return host;
        }
    }

    /**
     * Queues a copy of bytes between host and device memory, in either direction, on the thread's
     * stream for the GPU involved (see {@link #stream}): it may still run when this returns, so the
     * caller synchronizes before reading or reusing either side.
     */
    public static void copyAsync(MemorySegment dst, Device dstDevice, MemorySegment src, Device srcDevice, long bytes) {
        Device gpu = gpuOf(dstDevice, srcDevice);
        check(
                cudart_h.cudaMemcpyAsync(dst, src, bytes, cudart_h.cudaMemcpyDefault(), stream(gpu)),
                "copy " + bytes + " bytes " + srcDevice + " -> " + dstDevice);
    }

    /** Copies bytes between host and device memory in either direction (waits for the copy). */
    public static void copy(MemorySegment dst, Device dstDevice, MemorySegment src, Device srcDevice, long bytes) {
        gpuOf(dstDevice, srcDevice);
        check(
                cudart_h.cudaMemcpy(dst, src, bytes, cudart_h.cudaMemcpyDefault()),
                "copy " + bytes + " bytes " + srcDevice + " -> " + dstDevice);
    }

    /** The GPU a copy runs on (the destination's if it is one), made current. */
    private static Device gpuOf(Device dstDevice, Device srcDevice) {
        Device gpu = dstDevice.kind() == Device.Kind.CUDA ? dstDevice : srcDevice;
        use(gpu);
        return gpu;
    }

    /** Waits for all work queued on device. */
    public static void synchronize(Device device) {
        use(device);
        check(cudart_h.cudaDeviceSynchronize(), "synchronize " + device);
    }

    /** Throws a LowbitException naming the CUDA error when err is not cudaSuccess. */
    static void check(int err, String what) {
        if (err != cudart_h.cudaSuccess()) {
            String name = cudart_h.cudaGetErrorName(err).reinterpret(128).getString(0);
            String text = cudart_h.cudaGetErrorString(err).reinterpret(512).getString(0);
            throw new LowbitException(
                    lowbit_h.LB_ERR_CUDA(), what + " failed: CUDA error " + err + " (" + name + "): " + text);
        }
    }

    /** Throws with liblowbit_cuda's message when status is not LB_OK. */
    public static void checkKernel(int status, String operation) {
        if (status != lowbit_h.LB_OK()) {
            String message =
                    lowbit_cuda_h.lb_cuda_last_error().reinterpret(4096).getString(0);
            throw new LowbitException(
                    status, operation + " on the GPU failed (" + Native.statusName(status) + "): " + message);
        }
    }
}
