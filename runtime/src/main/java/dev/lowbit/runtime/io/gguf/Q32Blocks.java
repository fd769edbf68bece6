package dev.lowbit.runtime.io.gguf;

import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * ggml's 32-element blocks (ggml-common.h) against lowbit's group-quantized layout, both ways:
 * Q4_0 {fp16 d; nibbles} is w = d (q - 8); Q4_1 {fp16 d, m; nibbles} is w = d q + m; Q8_0 {fp16 d;
 * int8 q} is w = d q. Byte i of a 4-bit block holds element i in its low nibble and element i + 16
 * in its high one. A lowbit group of g (a multiple of 32) becomes g / 32 blocks that share its
 * scale s and zero z: d = s, m = -s z (Q4_1), codes as they are (Q8_0: q - 128). Only the fp16
 * rounding of d and m differs.
 */
public final class Q32Blocks {
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    private Q32Blocks() {}

    /** Writes q's rows as type's blocks into out; returns the largest |w - w'| the export introduces. */
    public static float encode(QuantizedTensor q, GgmlType type, MemorySegment out) {
        long n = q.rows(), k = q.cols(), blocks = k / 32;
        int g = q.groupSize();
        float worst = 0;
        int[] codes = new int[32];
        for (long r = 0; r < n; r++)
            for (long b = 0; b < blocks; b++) {
                long group = b * 32 / g;
                float s = q.scales().getFloat(r, group), z = q.zeros().getFloat(r, group);
                for (int i = 0; i < 32; i++) codes[i] = q.code(r, b * 32 + i);
                long at = (r * blocks + b) * type.blockBytes;
                short d = Float.floatToFloat16(s);
                out.set(F16, at, d);
                float dd = Float.float16ToFloat(d), mm = 0, shift = 0;
                switch (type) {
                    case Q4_0 -> shift = 8;
                    case Q4_1 -> {
                        short m = Float.floatToFloat16(-s * z);
                        out.set(F16, at + 2, m);
                        mm = Float.float16ToFloat(m);
                    }
                    case Q8_0 -> shift = 128;
                    default -> throw new IllegalArgumentException(type + " is not a 32-block type lowbit writes");
                }
                long qs = at + (type == GgmlType.Q4_1 ? 4 : 2);
                for (int i = 0; i < 32; i++) {
                    worst = Math.max(worst, Math.abs(s * (codes[i] - z) - (dd * (codes[i] - shift) + mm)));
                    if (type == GgmlType.Q8_0) out.set(ValueLayout.JAVA_BYTE, qs + i, (byte) (codes[i] - 128));
                }
                if (type != GgmlType.Q8_0)
                    for (int i = 0; i < 16; i++)
                        out.set(ValueLayout.JAVA_BYTE, qs + i, (byte) (codes[i] | codes[i + 16] << 4));
            }
        return worst;
    }

    /**
     * The blocks of a [rows, cols] tensor as a lowbit weight with groups of 32 and fp32 scales and
     * zeros (z = 8 for Q4_0, 128 for Q8_0, -m / d for Q4_1; a Q4_1 block with d = 0 is the constant m,
     * stored as codes 0, s = m, z = -1).
     */
    public static QuantizedTensor decode(Arena arena, GgmlType type, MemorySegment data, long rows, long cols) {
        int bits = type == GgmlType.Q8_0 ? 8 : 4;
        QuantizedTensor q = QuantizedTensor.allocate(
                arena, rows, cols, new QuantSpec(bits, 32, false, QuantSpec.Range.MINMAX, DType.F32));
        MemorySegment codes = q.codes().segment();
        Tensor scales = q.scales(), zeros = q.zeros();
        long blocks = cols / 32, words = q.codes().dim(1);
        int perWord = 32 / bits;
        int[] c = new int[32];
        for (long r = 0; r < rows; r++)
            for (long b = 0; b < blocks; b++) {
                long at = (r * blocks + b) * type.blockBytes;
                float d = Float.float16ToFloat(data.get(F16, at)), s = d, z;
                long qs = at + (type == GgmlType.Q4_1 ? 4 : 2);
                for (int i = 0; i < (bits == 8 ? 32 : 16); i++) {
                    int v = data.get(ValueLayout.JAVA_BYTE, qs + i);
                    if (bits == 8) c[i] = v + 128;
                    else {
                        c[i] = v & 0xF;
                        c[i + 16] = (v >> 4) & 0xF;
                    }
                }
                if (type == GgmlType.Q4_0) z = 8;
                else if (type == GgmlType.Q8_0) z = 128;
                else {
                    float m = Float.float16ToFloat(data.get(F16, at + 2));
                    if (d == 0) {
                        s = m;
                        z = -1;
                        Arrays.fill(c, 0);
                    } else z = -m / d;
                }
                scales.setFloat(s, r, b);
                zeros.setFloat(z, r, b);
                for (int i = 0; i < 32; i += perWord) {
                    int word = 0;
                    for (int t = 0; t < perWord; t++) word |= c[i + t] << (bits * t);
                    codes.setAtIndex(I32, r * words + (b * 32 + i) / perWord, word);
                }
            }
        return q;
    }
}
