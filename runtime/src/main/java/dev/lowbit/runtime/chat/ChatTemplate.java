package dev.lowbit.runtime.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Turns chat messages into the prompt text a model was trained to continue: the Jinja template of
 * the model folder's tokenizer_config.json ({@code chat_template}, rendered as Hugging Face's
 * apply_chat_template does: trim_blocks, lstrip_blocks, add_generation_prompt) or, for models
 * without one (such as the default model), {@link #SIMPLE}.
 */
public final class ChatTemplate {
    /** One chat turn; role is system, user or assistant. */
    public record Message(String role, String content) {}

    /**
     * The template of models without their own: BOS, then each message as "Role: content" on its
     * own line, then "Assistant:" for the model to continue.
     */
    public static final String SIMPLE = "{{ bos_token }}{% for message in messages %}"
            + "{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}"
            + "{% if add_generation_prompt %}Assistant:{% endif %}";

    private final String source;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinja;

    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = source;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinja = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .build());
        // templates refuse unsupported conversations with raise_exception('...')
        jinja.getGlobalContext()
                .registerFunction(new ELFunctionDefinition(
                        "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    }

    /**
     * The template of a model folder: tokenizer_config.json's chat_template when it has one, else
     * {@link #SIMPLE} with the tokenizer's {@code <s>} and {@code </s>} (empty where it has none).
     */
    public static ChatTemplate of(Path modelDir, Optional<BpeTokenizer> tokenizer) {
        String bos = special(tokenizer, "<s>");
        String eos = special(tokenizer, "</s>");
        Path config = modelDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(config)) return new ChatTemplate(SIMPLE, bos, eos);
        JsonNode json;
        try {
            json = new ObjectMapper().readTree(config.toFile());
        } catch (JsonProcessingException e) {
            throw new LowbitException(config + " is not valid JSON (" + e.getOriginalMessage()
                    + "): fix or remove the file to use the simple chat template");
        } catch (IOException e) {
            throw new LowbitException(config + " could not be read (" + e.getMessage()
                    + "): fix or remove the file to use the simple chat template");
        }
        JsonNode template = json.path("chat_template");
        if (template.isArray()) // a list of named templates: the "default" one
        for (JsonNode named : template)
                if ("default".equals(named.path("name").asText())) template = named.path("template");
        if (!template.isTextual()) return new ChatTemplate(SIMPLE, bos, eos);
        return new ChatTemplate(
                template.asText(), tokenText(json.path("bos_token"), bos), tokenText(json.path("eos_token"), eos));
    }

    public String source() {
        return source;
    }

    /** The prompt for messages, ending where the assistant's answer begins. */
    public String render(List<Message> messages) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (Message m : messages) list.add(Map.of("role", m.role(), "content", m.content()));
        Map<String, Object> context = new HashMap<>();
        context.put("messages", list);
        context.put("add_generation_prompt", true);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        RenderResult result = jinja.renderForResult(source, context);
        for (TemplateError e : result.getErrors())
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                for (Throwable t = e.getException(); t != null; t = t.getCause())
                    if (t instanceof LowbitException refused) throw refused; // raise_exception's, unwrapped
                throw new LowbitException("the chat template failed at line " + e.getLineno() + ": " + e.getMessage());
            }
        return result.getOutput();
    }

    /** Called by templates as raise_exception(message). */
    public static String raiseException(String message) {
        throw new LowbitException("the chat template refused the messages: " + message);
    }

    private static String special(Optional<BpeTokenizer> tokenizer, String token) {
        return tokenizer.filter(t -> t.specialId(token) >= 0).map(t -> token).orElse("");
    }

    /** tokenizer_config.json writes a token as a string or as {"content": ...}. */
    private static String tokenText(JsonNode node, String fallback) {
        if (node.isTextual()) return node.asText();
        if (node.path("content").isTextual()) return node.path("content").asText();
        return fallback;
    }
}
