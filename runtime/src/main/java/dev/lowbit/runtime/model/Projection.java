package dev.lowbit.runtime.model;

/**
 * The seven linear projections of a LLaMA block. Code uses these names; checkpoint files use the
 * Hugging Face module names ({@link #hfName}), e.g. {@code model.layers.3.self_attn.q_proj.weight}.
 */
public enum Projection {
    Q("self_attn", "q_proj"),
    K("self_attn", "k_proj"),
    V("self_attn", "v_proj"),
    O("self_attn", "o_proj"),
    GATE("mlp", "gate_proj"),
    UP("mlp", "up_proj"),
    DOWN("mlp", "down_proj");

    private final String module;
    private final String hfName;

    Projection(String module, String hfName) {
        this.module = module;
        this.hfName = hfName;
    }

    /** The Hugging Face name, e.g. {@code q_proj}. */
    public String hfName() {
        return hfName;
    }

    /** The weight's tensor name in a Hugging Face checkpoint, e.g. {@code model.layers.3.self_attn.q_proj.weight}. */
    public String weightName(int layer) {
        return "model.layers." + layer + "." + module + "." + hfName + ".weight";
    }

    /** The projection a block linear's weight name ({@code model.layers.N.self_attn.q_proj.weight} ...) names, or null. */
    public static Projection ofWeightName(String name) {
        String[] parts = name.split("\\.");
        if (parts.length != 6 || !name.startsWith("model.layers.") || !parts[5].equals("weight")) return null;
        Projection p = ofHfName(parts[4]);
        return p != null && p.module.equals(parts[3]) ? p : null;
    }

    /** The projection with Hugging Face name hfName ({@code q_proj} ... {@code down_proj}), or null. */
    public static Projection ofHfName(String hfName) {
        for (Projection p : values()) if (p.hfName.equals(hfName)) return p;
        return null;
    }
}
