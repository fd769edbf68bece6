package dev.lowbit.runtime.kernels;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * QLLM's channel reassembly as a gather map from inChannels input channels to ia.length output
 * channels: output j = sa[j] * x[ia[j]] + sb[j] * x[ib[j]]. Built (and checked) here, applied by
 * {@link Kernels#channelReassemble}.
 */
public record ChannelMap(Tensor ia, Tensor ib, Tensor sa, Tensor sb, int inChannels) {
    public static ChannelMap of(Arena arena, int[] ia, int[] ib, float[] sa, float[] sb, int inChannels) {
        int k = ia.length;
        if (k == 0 || ib.length != k || sa.length != k || sb.length != k)
            throw new LowbitException("a channel map needs equal, non-zero numbers of indices and factors; got "
                    + ia.length + ", " + ib.length + ", " + sa.length + ", " + sb.length);
        for (int j = 0; j < k; j++) {
            if (ia[j] < 0 || ia[j] >= inChannels || ib[j] < 0 || ib[j] >= inChannels)
                throw new LowbitException(
                        "output channel " + j + " reads channels " + ia[j] + " and " + ib[j] + " of " + inChannels);
            if (!Float.isFinite(sa[j]) || !Float.isFinite(sb[j]))
                throw new LowbitException("output channel " + j + " has non-finite factors " + sa[j] + ", " + sb[j]);
        }
        Tensor tia = Tensor.allocate(arena, DType.I32, k), tib = Tensor.allocate(arena, DType.I32, k);
        tia.segment().copyFrom(MemorySegment.ofArray(ia));
        tib.segment().copyFrom(MemorySegment.ofArray(ib));
        return new ChannelMap(tia, tib, Tensor.of(arena, sa, k), Tensor.of(arena, sb, k), inChannels);
    }

    /** This map with its indices and factors copied to device (itself if already there). */
    public ChannelMap to(Arena arena, Device device) {
        return ia.device().equals(device)
                ? this
                : new ChannelMap(
                        ia.to(arena, device),
                        ib.to(arena, device),
                        sa.to(arena, device),
                        sb.to(arena, device),
                        inChannels);
    }

    public int outChannels() {
        return (int) ia.numel();
    }
}
