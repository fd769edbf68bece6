package dev.lowbit.runtime.model;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Collection;

/**
 * The scratch memory of linear layers, allocated once for inputs of up to maxRows rows: quantized
 * or fake-quantized activations, reassembled inputs, and the product a quantized layer adds to its
 * output when beta is 1 (its kernels have no beta). A layer takes views of what it needs, so applying
 * layers allocates nothing. Layers applied one after another reuse the memory: one scratch per thread.
 */
public final class LinearScratch {
    private final Tensor product,
            reassembled,
            fakeQuantized,
            codes,
            scales,
            zeros; // flat; null where no layer needs one

    /** Elements per input row that a layer (or the widest of several) needs in each buffer. */
    private record Need(long product, long reassembled, long fakeQuantized, long codes) {
        static final Need NONE = new Need(0, 0, 0, 0);

        static Need of(Linear l) {
            return switch (l) {
                case Linear.Dense d -> NONE;
                case Linear.Quantized q -> new Need(q.outFeatures(), 0, 0, 0);
                case Linear.ActQuantized a ->
                    a.integerKernel()
                            ? new Need(a.outFeatures(), 0, 0, a.inFeatures())
                            : new Need(a.outFeatures(), 0, a.inFeatures(), 0);
                case Linear.Reassembled r ->
                    of(r.inner()).max(new Need(0, r.map().outChannels(), 0, 0));
            };
        }

        Need max(Need o) {
            return new Need(
                    Math.max(product, o.product),
                    Math.max(reassembled, o.reassembled),
                    Math.max(fakeQuantized, o.fakeQuantized),
                    Math.max(codes, o.codes));
        }
    }

    private LinearScratch(Arena arena, Device device, long maxRows, Need need) {
        product = flat(arena, device, DType.F32, maxRows, need.product);
        reassembled = flat(arena, device, DType.F32, maxRows, need.reassembled);
        fakeQuantized = flat(arena, device, DType.F32, maxRows, need.fakeQuantized);
        codes = flat(arena, device, DType.U8, maxRows, need.codes);
        scales = flat(arena, device, DType.F32, maxRows, need.codes > 0 ? 1 : 0);
        zeros = flat(arena, device, DType.F32, maxRows, need.codes > 0 ? 1 : 0);
    }

    /** Scratch on device for any of linears applied to inputs of up to maxRows rows. */
    public static LinearScratch of(Arena arena, Device device, long maxRows, Collection<? extends Linear> linears) {
        if (maxRows <= 0) throw new LowbitException("linear scratch needs at least one row, got " + maxRows);
        Need need = Need.NONE;
        for (Linear l : linears) need = need.max(Need.of(l));
        return new LinearScratch(arena, device, maxRows, need);
    }

    private static Tensor flat(Arena arena, Device device, DType dtype, long maxRows, long perRow) {
        return perRow == 0 ? null : Tensor.allocate(arena, device, dtype, Math.multiplyExact(maxRows, perRow));
    }

    /** Where a quantized layer's product goes before it is added to the output (shape of the output). */
    Tensor product(long... shape) {
        return view(product, "a product", shape);
    }

    /** The reassembled input of a {@link Linear.Reassembled}. */
    Tensor reassembled(long... shape) {
        return view(reassembled, "reassembled inputs", shape);
    }

    /** The fake-quantized input of a simulated {@link Linear.ActQuantized}. */
    Tensor fakeQuantized(long... shape) {
        return view(fakeQuantized, "fake-quantized inputs", shape);
    }

    /** The quantized input [rows, k] of an integer-kernel {@link Linear.ActQuantized}. */
    QuantizedActivations activations(long rows, long k, int bits) {
        return new QuantizedActivations(
                view(codes, "activation codes", rows, k),
                view(scales, "activation scales", rows),
                view(zeros, "activation zeros", rows),
                bits);
    }

    private static Tensor view(Tensor flat, String what, long... shape) {
        long n = Arrays.stream(shape).reduce(1, Math::multiplyExact);
        if (flat == null || n > flat.numel())
            throw new LowbitException(
                    "this linear scratch has no room for " + what + " of shape " + Arrays.toString(shape)
                            + ": make it with LinearScratch.of for the layers and the number of rows it serves");
        return flat.rows(0, n).reshape(shape);
    }
}
