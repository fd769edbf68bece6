package dev.lowbit.runtime.engine;

/** A finished request: its generated tokens and text, the prompt's length and why it ended. */
public record Completion(int[] tokens, String text, int promptTokens, FinishReason reason) {
    public Completion {
        tokens = tokens.clone();
    }

    public int generatedTokens() {
        return tokens.length;
    }

    /** Why generation ended, named as OpenAI's finish_reason where one applies. */
    public enum FinishReason {
        /** a stop token or stop string */
        STOP,
        /** maxTokens or the end of the context */
        LENGTH,
        /** cancelled by the caller or by {@link InferenceEngine#close()} */
        CANCELLED
    }
}
