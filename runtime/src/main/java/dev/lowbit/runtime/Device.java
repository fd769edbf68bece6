package dev.lowbit.runtime;

/** Where a tensor's memory lives and which backend runs kernels on it. */
public record Device(Kind kind, int index) {
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    /** GPU number index (as CUDA numbers them). */
    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    public Device {
        if (index < 0) throw new LowbitException("device index must be >= 0, got " + index);
        if (kind == Kind.CPU && index != 0) throw new LowbitException("there is one CPU device (index 0), got " + index);
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
