package dev.lowbit.methods.quant.gptq;

import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One linear as GPTQ quantized it, in quantization order: codes [rows, cols] unpacked, scales and
 * zeros [rows, cols / group] (w = scale · (code - zero), lowbit's layout), the column order
 * (order[j] = the input channel of column j; null without act-order), the weights each column had
 * when it was reached (after the error feedback of the columns before it: the values that were
 * rounded) and the summed loss Σ (w - q)² / (2 U_jj²).
 */
public record GptqLayer(
        int rows,
        int cols,
        int bits,
        int group,
        int[] codes,
        float[] scales,
        float[] zeros,
        int[] order,
        float[] reached,
        double loss) {
    /** The dequantized weight of row r, column j in quantization order. */
    public float value(int r, int j) {
        int at = r * (cols / group) + j / group;
        return ((float) codes[r * cols + j] - zeros[at]) * scales[at];
    }

    /** The dequantized weights [rows, cols] in the layer's own input order. */
    public float[] dequantized() {
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) w[r * cols + (order != null ? order[j] : j)] = value(r, j);
        return w;
    }

    /**
     * The layer in lowbit's quantized layout: weight-only (activationBits 16) or with per-token
     * activations; with act-order, behind a channel map that gathers the input into quantization
     * order (so groups stay runs of consecutive columns and the kernels run unchanged).
     */
    public Linear toLinear(Arena arena, int activationBits) {
        QuantizedTensor q = QuantizedTensor.of(
                arena,
                packedCodes(arena),
                Tensor.of(arena, scales, rows, cols / group),
                Tensor.of(arena, zeros, rows, cols / group),
                cols,
                bits,
                group);
        Linear inner = activationBits == 16 ? new Linear.Quantized(q) : new Linear.ActQuantized(q, activationBits);
        if (order == null) return inner;
        float[] ones = new float[cols], none = new float[cols];
        Arrays.fill(ones, 1f);
        return new Linear.Reassembled(ChannelMap.of(arena, order, order, ones, none, cols), inner);
    }

    /** Codes packed as lowbit.h lays them out: one little-endian bit stream of b-bit codes per row. */
    private Tensor packedCodes(Arena arena) {
        int words = (int) QuantizedTensor.wordsPerRow(cols, bits);
        int[] packed = new int[rows * words];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) {
                long bit = (long) j * bits;
                int word = r * words + (int) (bit >>> 5), off = (int) (bit & 31), c = codes[r * cols + j];
                packed[word] |= c << off;
                if (off + bits > 32) packed[word + 1] |= c >>> (32 - off);
            }
        Tensor t = Tensor.allocate(arena, DType.I32, rows, words);
        t.segment().copyFrom(MemorySegment.ofArray(packed));
        return t;
    }
}
