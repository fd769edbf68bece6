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
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * The edits fuzz cases apply to valid files: byte edits (set, flip, insert, delete, truncate) and
 * structure-aware JSON edits (replace a value with a hostile one, delete a field). Edits carry
 * plain ints that pick positions modulo the input's size, so jqwik can shrink them.
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

    static Arbitrary<List<ByteEdit>> byteEdits() {
        Arbitrary<ByteEdit> e = Combinators.combine(
                        Arbitraries.integers().between(0, 5),
                        Arbitraries.integers().greaterOrEqual(0),
                        Arbitraries.integers().between(0, 255))
                .as(ByteEdit::new);
        return e.list().ofMinSize(1).ofMaxSize(6);
    }

    static Arbitrary<List<JsonEdit>> jsonEdits() {
        Arbitrary<JsonEdit> e = Combinators.combine(
                        Arbitraries.integers().between(0, 3),
                        Arbitraries.integers().greaterOrEqual(0),
                        Arbitraries.integers().greaterOrEqual(0))
                .as(JsonEdit::new);
        return e.list().ofMinSize(1).ofMaxSize(4);
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
