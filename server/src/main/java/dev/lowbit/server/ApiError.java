package dev.lowbit.server;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the server refuses, answered with its HTTP status and OpenAI's error object
 * {"error": {"message", "type", "param", "code"}}; the message says what to change.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;
    /** seconds for a Retry-After header, 0 for none */
    final int retryAfter;

    private ApiError(int status, String type, String message, String param, String code, int retryAfter) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfter = retryAfter;
    }

    static ApiError badRequest(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, null, 0);
    }

    static ApiError badRequest(String message, String param, String code) {
        return new ApiError(400, "invalid_request_error", message, param, code, 0);
    }

    static ApiError unauthorized(String message) {
        return new ApiError(401, "invalid_request_error", message, null, "invalid_api_key", 0);
    }

    static ApiError notFound(String message) {
        return new ApiError(404, "invalid_request_error", message, null, "not_found", 0);
    }

    static ApiError unavailable(String message, String code, int retryAfter) {
        return new ApiError(503, "server_error", message, null, code, retryAfter);
    }

    static ApiError internal(String message) {
        return new ApiError(500, "server_error", message, null, null, 0);
    }

    ObjectNode json() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage()).put("type", type).put("param", param).put("code", code);
        return root;
    }
}
