package dev.lowbit.bench;

/**
 * One benchmark's figures: the contender, its shape N x K and M (0 where the benchmark has none),
 * weight bits and group (0 where they do not apply), the median and range of its iteration times in
 * milliseconds, and the bytes one call reads (weights, or the input for quantizers; 0: none).
 */
public record Result(
        String name,
        String suite,
        String shape,
        int m,
        int bits,
        int group,
        double medianMs,
        double minMs,
        double maxMs,
        long bytes) {
    /** GB/s of the bytes one call reads at the median time, or NaN where no bytes are counted. */
    public double gbps() {
        return bytes == 0 ? Double.NaN : bytes / (medianMs * 1e6);
    }

    /** Whether this is one of the peer libraries (ggml, Jlama). */
    public boolean isPeer() {
        return name.startsWith("ggml") || name.startsWith("jlama");
    }

    /** Whether this is the read-bandwidth floor. */
    public boolean isFloor() {
        return name.equals("readFloor");
    }

    /** Whether this is the dense baseline: OpenBLAS fp32 on the CPU, cuBLAS fp16 on the GPU. */
    public boolean isDense() {
        return name.equals("openblasDense") || name.equals("cublasFp16");
    }
}
