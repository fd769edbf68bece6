package dev.lowbit.runtime.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.runtime.LowbitException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {
    /** TinyLlama-1.1B-Chat-v1.0's tokenizer_config.json chat_template (Zephyr style), as published. */
    private static final String TINYLLAMA = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
            + "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
            + "{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
            + "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
            + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    private static final List<ChatTemplate.Message> PIRATE = List.of(
            new ChatTemplate.Message(
                    "system", "You are a friendly chatbot who always responds in the style of a pirate."),
            new ChatTemplate.Message("user", "How many helicopters can a human eat in one sitting?"));

    @Test
    void rendersAHuggingFaceTemplateAsTransformersDoes(@TempDir Path dir) throws Exception {
        Files.writeString(
                dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\", \"chat_template\": "
                        + new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(TINYLLAMA) + "}");
        // the prompt TinyLlama's model card prints for these messages (apply_chat_template, add_generation_prompt)
        String expected = "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate.</s>\n"
                + "<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n";
        assertEquals(expected, ChatTemplate.of(dir, Optional.empty()).render(PIRATE));
    }

    @Test
    void simpleTemplateForModelsWithoutOne(@TempDir Path dir) {
        ChatTemplate simple = new ChatTemplate(ChatTemplate.SIMPLE, "<s>", "</s>");
        assertEquals(
                "<s>System: You are a friendly chatbot who always responds in the style of a pirate.\n"
                        + "User: How many helicopters can a human eat in one sitting?\nAssistant:",
                simple.render(PIRATE));
        assertEquals(ChatTemplate.SIMPLE, ChatTemplate.of(dir, Optional.empty()).source());
    }

    @Test
    void raiseExceptionRefusesTheMessages() {
        ChatTemplate strict = new ChatTemplate(
                "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok",
                "", "");
        LowbitException e = assertThrows(LowbitException.class, () -> strict.render(PIRATE));
        assertTrue(e.getMessage().contains("System role not supported"), e.getMessage());
    }

    @Test
    void aBrokenConfigSaysWhatToDo(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": ");
        LowbitException e = assertThrows(LowbitException.class, () -> ChatTemplate.of(dir, Optional.empty()));
        assertTrue(e.getMessage().contains("fix or remove the file"), e.getMessage());
    }
}
