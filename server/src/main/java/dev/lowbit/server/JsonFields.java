package dev.lowbit.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;

/** Typed reads of request fields: absent or null is empty, a value of the wrong type a 400 naming the field. */
final class JsonFields {
    private JsonFields() {}

    static Optional<String> text(JsonNode body, String name) {
        JsonNode v = present(body, name);
        if (v == null) return Optional.empty();
        if (!v.isTextual()) throw wrongType(name, "a string", v);
        return Optional.of(v.asText());
    }

    static Optional<Integer> integer(JsonNode body, String name) {
        JsonNode v = present(body, name);
        if (v == null) return Optional.empty();
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw wrongType(name, "an integer", v);
        return Optional.of(v.intValue());
    }

    static Optional<Long> longInteger(JsonNode body, String name) {
        JsonNode v = present(body, name);
        if (v == null) return Optional.empty();
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw wrongType(name, "an integer", v);
        return Optional.of(v.longValue());
    }

    static Optional<Double> number(JsonNode body, String name) {
        JsonNode v = present(body, name);
        if (v == null) return Optional.empty();
        if (!v.isNumber()) throw wrongType(name, "a number", v);
        return Optional.of(v.doubleValue());
    }

    static boolean bool(JsonNode body, String name) {
        JsonNode v = present(body, name);
        if (v == null) return false;
        if (!v.isBoolean()) throw wrongType(name, "true or false", v);
        return v.booleanValue();
    }

    /** An optional object field (e.g. stream_options); missing as an empty node. */
    static JsonNode object(JsonNode body, String name) {
        JsonNode v = present(body, name);
        if (v == null) return body.path(name);
        if (!v.isObject()) throw wrongType(name, "an object", v);
        return v;
    }

    static ApiError wrongType(String name, String expected, JsonNode got) {
        String shown = got.toString();
        if (shown.length() > 40) shown = shown.substring(0, 40) + "...";
        return ApiError.badRequest(name + " must be " + expected + ", got " + shown, name);
    }

    private static JsonNode present(JsonNode body, String name) {
        JsonNode v = body.get(name);
        return v == null || v.isNull() ? null : v;
    }
}
