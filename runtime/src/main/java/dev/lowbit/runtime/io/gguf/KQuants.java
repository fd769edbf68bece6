package dev.lowbit.runtime.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Dequantization of ggml's K-quant super-blocks of 256 (ggml-quants.c's dequantize_row_q*_K):
 * Q4_K and Q5_K have 8 sub-blocks of 32 with 6-bit scales and mins under fp16 d and dmin (w = d sc
 * q - dmin m); Q6_K has 16 sub-blocks of 16 with int8 scales under fp16 d (w = d sc (q - 32)).
 */
public final class KQuants {
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private KQuants() {}

    /** Dequantizes the n elements (whole super-blocks) at src into out. */
    public static void dequantize(GgmlType type, MemorySegment src, float[] out) {
        int blocks = out.length / 256;
        for (int b = 0; b < blocks; b++) {
            long at = (long) b * type.blockBytes;
            switch (type) {
                case Q4_K -> q4k(src, at, out, b * 256);
                case Q5_K -> q5k(src, at, out, b * 256);
                case Q6_K -> q6k(src, at, out, b * 256);
                default -> throw new IllegalArgumentException(type + " is not a K-quant");
            }
        }
    }

    private static int u8(MemorySegment s, long at) {
        return Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, at));
    }

    /** The 6-bit scale (0) and min (1) of sub-block j from the 12 packed scale bytes at sc. */
    private static int scaleMin(MemorySegment s, long sc, int j, int which) {
        if (j < 4) return u8(s, sc + j + 4L * which) & 63;
        return which == 0
                ? (u8(s, sc + j + 4) & 0xF) | ((u8(s, sc + j - 4) >> 6) << 4)
                : (u8(s, sc + j + 4) >> 4) | ((u8(s, sc + j) >> 6) << 4);
    }

    /** block_q4_K: fp16 d, dmin; scales[12]; qs[128]. */
    private static void q4k(MemorySegment s, long at, float[] y, int o) {
        float d = Float.float16ToFloat(s.get(F16, at)), dmin = Float.float16ToFloat(s.get(F16, at + 2));
        long sc = at + 4, qs = at + 16;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, qs += 32) {
            float d1 = d * scaleMin(s, sc, is, 0), m1 = dmin * scaleMin(s, sc, is, 1);
            float d2 = d * scaleMin(s, sc, is + 1, 0), m2 = dmin * scaleMin(s, sc, is + 1, 1);
            for (int l = 0; l < 32; l++) y[o + j + l] = d1 * (u8(s, qs + l) & 0xF) - m1;
            for (int l = 0; l < 32; l++) y[o + j + 32 + l] = d2 * (u8(s, qs + l) >> 4) - m2;
        }
    }

    /** block_q5_K: fp16 d, dmin; scales[12]; qh[32]; qs[128]. */
    private static void q5k(MemorySegment s, long at, float[] y, int o) {
        float d = Float.float16ToFloat(s.get(F16, at)), dmin = Float.float16ToFloat(s.get(F16, at + 2));
        long sc = at + 4, qh = at + 16, ql = at + 48;
        int u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            float d1 = d * scaleMin(s, sc, is, 0), m1 = dmin * scaleMin(s, sc, is, 1);
            float d2 = d * scaleMin(s, sc, is + 1, 0), m2 = dmin * scaleMin(s, sc, is + 1, 1);
            for (int l = 0; l < 32; l++)
                y[o + j + l] = d1 * ((u8(s, ql + l) & 0xF) + ((u8(s, qh + l) & u1) != 0 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                y[o + j + 32 + l] = d2 * ((u8(s, ql + l) >> 4) + ((u8(s, qh + l) & u2) != 0 ? 16 : 0)) - m2;
        }
    }

    /** block_q6_K: ql[128]; qh[64]; int8 scales[16]; fp16 d. */
    private static void q6k(MemorySegment s, long at, float[] y, int o) {
        float d = Float.float16ToFloat(s.get(F16, at + 208));
        long ql = at, qh = at + 128, sc = at + 192;
        for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                int is = l / 16, h = u8(s, qh + l);
                int q1 = ((u8(s, ql + l) & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((u8(s, ql + l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((u8(s, ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((u8(s, ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[o + n + l] = d * s.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                y[o + n + l + 32] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                y[o + n + l + 64] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                y[o + n + l + 96] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
    }
}
