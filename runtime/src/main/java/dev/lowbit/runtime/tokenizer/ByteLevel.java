package dev.lowbit.runtime.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level scheme, as Hugging Face's ByteLevel pre-tokenizer and decoder implement it:
 * text is split by a regex into words, each word's UTF-8 bytes are mapped one-to-one onto
 * printable characters, and BPE runs on those characters. Every byte sequence is representable,
 * so encoding then decoding returns the input exactly.
 */
final class ByteLevel {
    /** GPT-2's split: contractions, letters, numbers, other symbols, each with an optional leading space; whitespace. */
    static final Pattern GPT2_SPLIT =
            Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = (char) (printable ? b : next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    static List<String> split(Pattern pattern, String text) {
        List<String> words = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) words.add(m.group());
        return words;
    }

    /** The word's UTF-8 bytes as byte-level characters. */
    static String encodeBytes(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) sb.append(BYTE_TO_CHAR[b & 0xFF]);
        return sb.toString();
    }

    static char charOf(int b) {
        return BYTE_TO_CHAR[b];
    }

    /** Appends the bytes a byte-level token stands for; false if it holds a character outside the mapping. */
    static boolean appendBytes(String token, ByteArrayOutputStream out) {
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c >= CHAR_TO_BYTE.length || CHAR_TO_BYTE[c] < 0) return false;
            out.write(CHAR_TO_BYTE[c]);
        }
        return true;
    }
}
