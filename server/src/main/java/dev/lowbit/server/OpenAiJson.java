package dev.lowbit.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.engine.Completion;
import java.util.UUID;

/** The response objects of OpenAI's two generation endpoints, whole and as stream chunks. */
final class OpenAiJson {
    enum Endpoint {
        COMPLETIONS("cmpl-", "text_completion", "text_completion"),
        CHAT("chatcmpl-", "chat.completion", "chat.completion.chunk");

        final String idPrefix;
        final String object;
        final String chunkObject;

        Endpoint(String idPrefix, String object, String chunkObject) {
            this.idPrefix = idPrefix;
            this.object = object;
            this.chunkObject = chunkObject;
        }
    }

    private final Endpoint endpoint;
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    private final String model;

    OpenAiJson(Endpoint endpoint, String model) {
        this.endpoint = endpoint;
        this.id = endpoint.idPrefix + UUID.randomUUID().toString().replace("-", "");
        this.model = model;
    }

    /** The whole answer of a request that did not stream. */
    ObjectNode whole(Completion c) {
        ObjectNode root = head(endpoint.object);
        ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
        if (endpoint == Endpoint.CHAT)
            choice.putObject("message").put("role", "assistant").put("content", c.text());
        else choice.put("text", c.text());
        choice.putNull("logprobs").put("finish_reason", finishReason(c.reason()));
        root.set("usage", usage(c));
        return root;
    }

    /** The chat stream's first chunk: the assistant's role, no text yet. */
    ObjectNode roleChunk(boolean withUsage) {
        ObjectNode root = chunk(withUsage);
        ObjectNode choice = choice(root);
        choice.putObject("delta").put("role", "assistant").put("content", "");
        choice.putNull("logprobs").putNull("finish_reason");
        return root;
    }

    /** A chunk of text, or the last chunk (empty text, its finish reason) when reason is non-null. */
    ObjectNode textChunk(String text, Completion.FinishReason reason, boolean withUsage) {
        ObjectNode root = chunk(withUsage);
        ObjectNode choice = choice(root);
        if (endpoint == Endpoint.CHAT) {
            ObjectNode delta = choice.putObject("delta");
            if (reason == null) delta.put("content", text);
        } else choice.put("text", text);
        choice.putNull("logprobs");
        if (reason == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finishReason(reason));
        return root;
    }

    /** stream_options.include_usage: a last chunk with no choices and the counts. */
    ObjectNode usageChunk(Completion c) {
        ObjectNode root = head(endpoint.chunkObject);
        root.putArray("choices");
        root.set("usage", usage(c));
        return root;
    }

    private ObjectNode chunk(boolean withUsage) {
        ObjectNode root = head(endpoint.chunkObject);
        root.putArray("choices");
        if (withUsage) root.putNull("usage"); // as OpenAI: null in every chunk but the last
        return root;
    }

    private static ObjectNode choice(ObjectNode root) {
        return ((ArrayNode) root.get("choices")).addObject().put("index", 0);
    }

    private ObjectNode head(String object) {
        return JsonNodeFactory.instance
                .objectNode()
                .put("id", id)
                .put("object", object)
                .put("created", created)
                .put("model", model);
    }

    private static ObjectNode usage(Completion c) {
        return JsonNodeFactory.instance
                .objectNode()
                .put("prompt_tokens", c.promptTokens())
                .put("completion_tokens", c.generatedTokens())
                .put("total_tokens", c.promptTokens() + c.generatedTokens());
    }

    /** OpenAI's finish_reason; a cancelled request (the server is closing) reports vLLM's "abort". */
    static String finishReason(Completion.FinishReason reason) {
        return switch (reason) {
            case STOP -> "stop";
            case LENGTH -> "length";
            case CANCELLED -> "abort";
        };
    }
}
