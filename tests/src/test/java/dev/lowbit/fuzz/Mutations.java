package dev.lowbit.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The edits fuzz cases apply to valid files: byte edits (set, flip, insert, delete, truncate) and
 * structure-aware JSON edits (replace a value with a hostile one, delete a field). Edits carry
 * plain ints that pick positions modulo the input's size; a failing case prints them as records.
 */
final class Mutations {
    static final ObjectMapper JSON = new ObjectMapper();

    /** Values that break parsers and range checks. */
    static final List<String> HOSTILE_JSON = List.of(
            "0",
            "-1",
            "1",
            "2",
            "3",
            "7",
            "255",
            "256",
            "65536",
            "2147483647",
            "2147483648",
            "-2147483648",
            "9223372036854775807",
            "99999999999999999999",
            "1e308",
            "-0.0",
            "0.5",
            "1e-45",
            "\"abc\"",
            "\"\"",
            "\"NaN\"",
            "null",
            "true",
            "false",
            "[]",
            "{}",
            "[1,2]",
            "[-1]",
            "[0,0]",
            "[4294967296]",
            "{\"a\":1}",
            "\"F32\"",
            "\"F16\"",
            "\"BF16\"",
            "\"I32\"",
            "\"U8\"",
            "\"F64\"",
            "\"" + "x".repeat(300) + "\"");

    static final int[] HOSTILE_INTS = {
        0, -1, 1, 2, 3, 4, 7, 8, 16, 17, 255, 256, 1 << 16, 1 << 20, 1 << 24, Integer.MAX_VALUE, Integer.MIN_VALUE
    };

    record ByteEdit(int kind, int at, int value) {}

    record JsonEdit(int kind, int at, int value) {}

    /** A header field of a llama2.c checkpoint (0-6: dim .. seq_len) set to value. */
    record HeaderField(int field, int value) {}

    /** JSON edits, byte edits and a choice among a test's ways of applying them. */
    record Edits(List<JsonEdit> json, List<ByteEdit> bytes, int which) {}

    /** 1-6 byte edits: kind 0-5, any position, a byte value. */
    static List<ByteEdit> byteEdits(SplittableRandom r) {
        return list(r, 1, 6, () -> new ByteEdit(r.nextInt(6), natural(r), r.nextInt(256)));
    }

    /** 1-4 JSON edits: kind 0-3, any slot, any hostile value. */
    static List<JsonEdit> jsonEdits(SplittableRandom r) {
        return list(r, 1, 4, () -> new JsonEdit(r.nextInt(4), natural(r), natural(r)));
    }

    /** Both kinds of edits and which in [0, ways). */
    static Edits edits(SplittableRandom r, int ways) {
        return new Edits(jsonEdits(r), byteEdits(r), r.nextInt(ways));
    }

    /** 1-3 header fields, each set to a hostile int, a small one (-4..40) or any int, a third of the time each. */
    static List<HeaderField> headerFields(SplittableRandom r) {
        return list(
                r,
                1,
                3,
                () -> new HeaderField(
                        r.nextInt(7),
                        switch (r.nextInt(3)) {
                            case 0 -> HOSTILE_INTS[r.nextInt(HOSTILE_INTS.length)];
                            case 1 -> r.nextInt(-4, 41);
                            default -> r.nextInt();
                        }));
    }

    /** A non-negative int. */
    static int natural(SplittableRandom r) {
        return r.nextInt() >>> 1;
    }

    /** min to max (inclusive) elements drawn by next. */
    static <T> List<T> list(SplittableRandom r, int min, int max, Supplier<T> next) {
        int n = r.nextInt(min, max + 1);
        List<T> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(next.get());
        return out;
    }

    /** The bytes with the edits applied; positions wrap around the current length. */
    static byte[] apply(byte[] original, List<ByteEdit> edits) {
        byte[] b = original.clone();
        for (ByteEdit e : edits) {
            int n = b.length;
            int at = n == 0 ? 0 : e.at() % n;
            b = switch (e.kind()) {
                case 0 -> set(b, at, n == 0 ? null : (byte) e.value());
                case 1 -> set(b, at, n == 0 ? null : (byte) (b[at] ^ (1 << (e.value() & 7))));
                case 2 -> splice(b, at, 0, new byte[] {(byte) e.value()});
                case 3 -> n == 0 ? b : splice(b, at, 1, new byte[0]);
                case 4 -> Arrays.copyOf(b, at); // truncate
                default -> Arrays.copyOf(b, n + (e.value() & 15)); // trailing zero bytes
            };
        }
        return b;
    }

    private static byte[] set(byte[] b, int at, Byte value) {
        if (value != null) b[at] = value;
        return b;
    }

    /** b with count bytes at at replaced by insert. */
    private static byte[] splice(byte[] b, int at, int count, byte[] insert) {
        byte[] out = new byte[b.length - count + insert.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(insert, 0, out, at, insert.length);
        System.arraycopy(b, at + count, out, at + insert.length, b.length - at - count);
        return out;
    }

    /** A deep copy of the tree with the edits applied. */
    static JsonNode apply(JsonNode original, List<JsonEdit> edits) {
        JsonNode root = original.deepCopy();
        for (JsonEdit e : edits) {
            List<Slot> slots = new ArrayList<>();
            collect(root, slots);
            if (slots.isEmpty()) return JSON.valueToTree(HOSTILE_JSON.get(e.value() % HOSTILE_JSON.size()));
            Slot s = slots.get(e.at() % slots.size());
            JsonNode hostile = parse(HOSTILE_JSON.get(e.value() % HOSTILE_JSON.size()));
            switch (e.kind()) {
                case 0, 1 -> s.set(hostile);
                case 2 -> s.remove();
                default ->
                    s.set(s.value().isNumber() ? JSON.valueToTree(s.value().asLong() + (e.value() % 3) - 1) : hostile);
            }
        }
        return root;
    }

    static byte[] bytes(JsonNode n) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            JSON.writeValue(out, n);
            return out.toByteArray();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode parse(String s) {
        try {
            return JSON.readTree(s);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A place in a JSON tree: an object field or an array element. */
    private record Slot(JsonNode parent, String field, int index) {
        JsonNode value() {
            return field != null ? parent.get(field) : parent.get(index);
        }

        void set(JsonNode v) {
            if (field != null) ((ObjectNode) parent).set(field, v);
            else ((ArrayNode) parent).set(index, v);
        }

        void remove() {
            if (field != null) ((ObjectNode) parent).remove(field);
            else ((ArrayNode) parent).remove(index);
        }
    }

    private static void collect(JsonNode n, List<Slot> out) {
        if (n.isObject()) {
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                out.add(new Slot(n, f, -1));
                collect(n.get(f), out);
            }
        } else if (n.isArray()) {
            // large arrays (vocabularies, merges): a few of their elements suffice
            for (int i = 0; i < Math.min(n.size(), 8); i++) {
                out.add(new Slot(n, null, i));
                collect(n.get(i), out);
            }
        }
    }

    private Mutations() {}
}
