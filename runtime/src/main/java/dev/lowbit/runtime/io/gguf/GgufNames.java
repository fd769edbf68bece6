package dev.lowbit.runtime.io.gguf;

import dev.lowbit.runtime.model.Projection;

/** llama.cpp's tensor names for a LLaMA model (gguf-py's constants, MODEL_ARCH.LLAMA). */
final class GgufNames {
    static final String EMBEDDING = "token_embd.weight", FINAL_NORM = "output_norm.weight", OUTPUT = "output.weight";

    private GgufNames() {}

    static String attentionNorm(int layer) {
        return "blk." + layer + ".attn_norm.weight";
    }

    static String ffnNorm(int layer) {
        return "blk." + layer + ".ffn_norm.weight";
    }

    static String linear(int layer, Projection p) {
        String name = switch (p) {
            case Q -> "attn_q";
            case K -> "attn_k";
            case V -> "attn_v";
            case O -> "attn_output";
            case GATE -> "ffn_gate";
            case UP -> "ffn_up";
            case DOWN -> "ffn_down";
        };
        return "blk." + layer + "." + name + ".weight";
    }
}
