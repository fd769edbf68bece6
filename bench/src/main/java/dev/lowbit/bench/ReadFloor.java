package dev.lowbit.bench;

import dev.lowbit.runtime.kernels.cpu.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The read-bandwidth floor: a buffer summed as 64-bit words on the kernels' own threads
 * ({@link Native#readSum}), with nothing else done per byte. No kernel that must read that many
 * bytes can take less time; the report measures every matmul against it.
 */
final class ReadFloor implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer;

    /** A buffer of bytes rounded up to whole 64-bit words, holding 0, 1, 2, ... */
    ReadFloor(long bytes) {
        buffer = arena.allocate(Math.ceilDiv(bytes, 8) * 8, 64);
        for (long i = 0; i < buffer.byteSize() / 8; i++) buffer.setAtIndex(ValueLayout.JAVA_LONG, i, i);
    }

    long bytes() {
        return buffer.byteSize();
    }

    /** Reads the whole buffer once; returns the sum of its words. */
    long read() {
        return Native.readSum(buffer);
    }

    @Override
    public void close() {
        arena.close();
    }
}
