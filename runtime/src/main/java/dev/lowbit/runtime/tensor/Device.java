package dev.lowbit.runtime.tensor;

import dev.lowbit.runtime.LowbitException;
import java.util.Locale;

/** Where a tensor's memory lives and which backend runs kernels on it. */
public record Device(Kind kind, int index) {
    public enum Kind {
        CPU,
        CUDA
    }

    public static final Device CPU = new Device(Kind.CPU, 0);

    /** GPU number index (as CUDA numbers them). */
    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /** "cpu", "cuda" (GPU 0) or "cuda:N", as the command line takes a device. */
    public static Device parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("cpu")) return CPU;
        if (t.equals("cuda")) return cuda(0);
        if (t.matches("cuda:\\d{1,4}")) return cuda(Integer.parseInt(t.substring(5)));
        throw new LowbitException("unknown device \"" + text + "\": use cpu, cuda or cuda:N");
    }

    public Device {
        if (index < 0) throw new LowbitException("device index must be >= 0, got " + index);
        if (kind == Kind.CPU && index != 0)
            throw new LowbitException("there is one CPU device (index 0), got " + index);
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
