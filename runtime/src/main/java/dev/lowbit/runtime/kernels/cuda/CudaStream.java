package dev.lowbit.runtime.kernels.cuda;

import dev.lowbit.bindings.cudart.cudart_h;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A CUDA stream on one GPU. Inside {@link #use()} the GPU kernels, cuBLAS calls and {@link
 * Tensor#copyFrom} copies this thread issues for that GPU queue on this stream instead of the
 * default one, so work from several threads (e.g. requests of an inference server) can overlap.
 * Streams are created blocking: the default stream, which {@link Tensor#to} copies on, still waits
 * for them, so a result copied that way is never read early.
 *
 * <pre>{@code
 * try (CudaStream stream = CudaStream.create(Device.cuda(0)); CudaStream.Scope s = stream.use()) {
 *     Kernels.dequantGemm(x, w, null, y);   // queued on stream
 *     hostY.copyFrom(y);                    // asynchronous where hostY is pinned
 *     stream.synchronize();                 // now hostY holds the result
 * }
 * }</pre>
 */
public final class CudaStream implements AutoCloseable {
    private static final ThreadLocal<CudaStream> CURRENT = new ThreadLocal<>();

    private final Device device;
    private MemorySegment handle;

    private CudaStream(Device device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
    }

    /** A new stream on device (a clear error where CUDA cannot be used). */
    public static CudaStream create(Device device) {
        Cuda.use(device);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Cuda.check(cudart_h.cudaStreamCreate(out), "create a stream on " + device);
            return new CudaStream(device, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    public Device device() {
        return device;
    }

    /** Restores the stream that was current before {@link #use()}. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Makes this the stream of this thread's work on its GPU until the scope closes (scopes nest). */
    public Scope use() {
        live();
        CudaStream previous = CURRENT.get();
        CURRENT.set(this);
        return () -> CURRENT.set(previous);
    }

    /** Waits until everything queued on this stream has run. */
    public void synchronize() {
        Cuda.use(device);
        Cuda.check(cudart_h.cudaStreamSynchronize(live()), "synchronize a stream on " + device);
    }

    /** Waits for the stream's work, then destroys it. */
    @Override
    public void close() {
        if (handle == null) return;
        synchronize();
        Cuda.check(cudart_h.cudaStreamDestroy(handle), "destroy a stream on " + device);
        handle = null;
    }

    private MemorySegment live() {
        if (handle == null) throw new LowbitException("this stream on " + device + " is closed");
        return handle;
    }

    /** The stream this thread's work on device goes to: the one in use, or the default stream (NULL). */
    static MemorySegment current(Device device) {
        CudaStream s = CURRENT.get();
        if (s == null) return MemorySegment.NULL;
        if (!s.device.equals(device))
            throw new LowbitException("the stream in use is on " + s.device + " but this call runs on " + device
                    + "; use a stream of " + device + " or none");
        return s.live();
    }
}
