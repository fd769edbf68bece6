package dev.lowbit.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.InferenceEngine;
import dev.lowbit.runtime.engine.SamplingParams;
import dev.lowbit.runtime.generate.Generator;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads the body of /v1/completions and /v1/chat/completions as OpenAI defines the fields (plus
 * top_k, as vLLM and llama-server take it), refusing with a 400 what the engine cannot run.
 */
final class RequestReader {
    /** OpenAI's limit on stop sequences. */
    private static final int MAX_STOP = 4;

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    private final InferenceEngine engine;
    private final ChatTemplate template;

    RequestReader(InferenceEngine engine, ChatTemplate template) {
        this.engine = engine;
        this.template = template;
    }

    GenerationRequest completion(JsonNode body) {
        checkModel(body);
        int[] prompt = promptIds(body);
        // OpenAI's default for completions is 16 tokens
        return request(
                body, prompt, JsonFields.integer(body, "max_tokens").orElse(Math.min(16, room(prompt))), "max_tokens");
    }

    GenerationRequest chat(JsonNode body) {
        checkModel(body);
        String text = template(body);
        int[] prompt = tokenizer().encode(text);
        String limitField = body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int max = JsonFields.integer(body, limitField).orElse(room(prompt)); // default: the rest of the context
        return request(body, prompt, max, limitField);
    }

    private GenerationRequest request(JsonNode body, int[] prompt, int maxTokens, String limitField) {
        int context = engine.contextLength();
        if (prompt.length >= context)
            throw ApiError.badRequest(
                    "the prompt has " + prompt.length + " tokens but the model's context holds " + context
                            + ": shorten the prompt to at most " + (context - 1) + " tokens",
                    "prompt",
                    "context_length_exceeded");
        if (maxTokens < 1) throw ApiError.badRequest(limitField + " must be at least 1, got " + maxTokens, limitField);
        if ((long) prompt.length + maxTokens > context)
            throw ApiError.badRequest(
                    "the prompt's " + prompt.length + " tokens plus " + limitField + " " + maxTokens
                            + " exceed the model's context of " + context + " tokens: give " + limitField
                            + " at most " + (context - prompt.length) + " or shorten the prompt",
                    limitField,
                    "context_length_exceeded");
        int n = JsonFields.integer(body, "n").orElse(1);
        if (n != 1) throw ApiError.badRequest("n must be 1 (this server returns one choice), got " + n, "n");
        JsonNode logprobs = body.path("logprobs");
        if (!logprobs.isMissingNode() && !logprobs.isNull() && !(logprobs.isBoolean() && !logprobs.booleanValue()))
            throw ApiError.badRequest("logprobs are not supported: leave logprobs out", "logprobs");
        double temperature = JsonFields.number(body, "temperature").orElse(1.0);
        double topP = JsonFields.number(body, "top_p").orElse(1.0);
        int topK = JsonFields.integer(body, "top_k").orElse(0);
        if (topK == -1) topK = 0; // vLLM spells "all tokens" -1
        long seed = JsonFields.longInteger(body, "seed")
                .orElseGet(() -> ThreadLocalRandom.current().nextLong());
        boolean stream = JsonFields.bool(body, "stream");
        boolean usage = JsonFields.bool(JsonFields.object(body, "stream_options"), "include_usage");
        if (!(temperature <= 2))
            throw ApiError.badRequest("temperature must be from 0 to 2, got " + temperature, "temperature");
        int eos = tokenizer().specialId("</s>");
        try {
            SamplingParams params = new SamplingParams(
                    maxTokens,
                    (float) temperature,
                    (float) topP,
                    topK,
                    seed,
                    stop(body),
                    eos < 0 ? new int[0] : new int[] {eos});
            return new GenerationRequest(prompt, params, stream, usage);
        } catch (LowbitException e) { // SamplingParams' range checks name the field
            throw ApiError.badRequest(e.getMessage(), fieldOf(e.getMessage()));
        }
    }

    private void checkModel(JsonNode body) {
        JsonFields.text(body, "model").ifPresent(model -> {
            if (!model.equals(engine.modelId()))
                throw ApiError.badRequest(
                        "the model '" + model + "' does not exist: this server serves '" + engine.modelId()
                                + "' (see GET /v1/models)",
                        "model",
                        "model_not_found");
        });
    }

    /** A completion's prompt: a string (or a one-string array), or token ids. */
    private int[] promptIds(JsonNode body) {
        JsonNode prompt = body.get("prompt");
        if (prompt == null || prompt.isNull())
            throw ApiError.badRequest("prompt is missing: give the text to continue", "prompt");
        if (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual()) prompt = prompt.get(0);
        if (prompt.isTextual()) {
            if (prompt.asText().isEmpty()) throw emptyPrompt("prompt");
            return Generator.promptIds(tokenizer(), prompt.asText());
        }
        if (prompt.isArray()) {
            if (prompt.isEmpty()) throw emptyPrompt("prompt");
            int[] ids = new int[prompt.size()];
            int vocab = tokenizer().vocabSize();
            for (int i = 0; i < ids.length; i++) {
                JsonNode id = prompt.get(i);
                if (!id.canConvertToInt() || !id.isIntegralNumber() || id.intValue() < 0 || id.intValue() >= vocab)
                    throw ApiError.badRequest(
                            "prompt must be a string or an array of token ids from 0 to " + (vocab - 1) + ", got " + id
                                    + " at index " + i,
                            "prompt");
                ids[i] = id.intValue();
            }
            return ids;
        }
        throw JsonFields.wrongType("prompt", "a string or an array of token ids", prompt);
    }

    private String template(JsonNode body) {
        JsonNode messages = body.get("messages");
        if (messages == null || messages.isNull())
            throw ApiError.badRequest("messages is missing: give an array of {\"role\", \"content\"}", "messages");
        if (!messages.isArray()) throw JsonFields.wrongType("messages", "an array", messages);
        if (messages.isEmpty()) throw emptyPrompt("messages");
        List<ChatTemplate.Message> turns = new ArrayList<>();
        boolean anyText = false;
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject()) throw JsonFields.wrongType(at, "an object", m);
            String role = JsonFields.text(m, "role")
                    .orElseThrow(() -> ApiError.badRequest(at + ".role is missing", at + ".role"));
            if (!ROLES.contains(role))
                throw ApiError.badRequest(
                        at + ".role must be one of system, developer, user, assistant, got '" + role + "'",
                        at + ".role");
            String content = content(m.get("content"), at + ".content");
            anyText |= !content.isEmpty();
            turns.add(new ChatTemplate.Message(role.equals("developer") ? "system" : role, content));
        }
        if (!anyText) throw emptyPrompt("messages");
        try {
            return template.render(turns);
        } catch (LowbitException e) {
            throw ApiError.badRequest(e.getMessage(), "messages");
        }
    }

    /** A message's content: a string or an array of {"type": "text", "text": ...} parts. */
    private static String content(JsonNode content, String at) {
        if (content == null || content.isNull()) return "";
        if (content.isTextual()) return content.asText();
        if (!content.isArray()) throw JsonFields.wrongType(at, "a string or an array of text parts", content);
        StringBuilder text = new StringBuilder();
        for (JsonNode part : content) {
            if (!part.isObject()
                    || !"text".equals(part.path("type").asText())
                    || !part.path("text").isTextual())
                throw ApiError.badRequest(
                        at + " parts must be {\"type\": \"text\", \"text\": ...} (this model reads text only)", at);
            text.append(part.get("text").asText());
        }
        return text.toString();
    }

    private static List<String> stop(JsonNode body) {
        JsonNode stop = body.get("stop");
        if (stop == null || stop.isNull()) return List.of();
        List<String> list = new ArrayList<>();
        if (stop.isTextual()) list.add(stop.asText());
        else if (stop.isArray())
            for (JsonNode s : stop) {
                if (!s.isTextual()) throw JsonFields.wrongType("stop", "a string or an array of strings", stop);
                list.add(s.asText());
            }
        else throw JsonFields.wrongType("stop", "a string or an array of strings", stop);
        if (list.size() > MAX_STOP)
            throw ApiError.badRequest("stop takes at most " + MAX_STOP + " strings, got " + list.size(), "stop");
        if (list.contains("")) throw ApiError.badRequest("stop strings must not be empty", "stop");
        return list;
    }

    private int room(int[] prompt) {
        return Math.max(1, engine.contextLength() - prompt.length);
    }

    private BpeTokenizer tokenizer() {
        return engine.tokenizer()
                .orElseThrow(() -> ApiError.badRequest("this model has no tokenizer: it cannot serve text", null));
    }

    private static ApiError emptyPrompt(String field) {
        return ApiError.badRequest(field + " is empty: give at least one character of text", field);
    }

    /** SamplingParams' messages start with the field's name. */
    private static String fieldOf(String message) {
        int space = message.indexOf(' ');
        return space < 0 ? null : message.substring(0, space);
    }
}
