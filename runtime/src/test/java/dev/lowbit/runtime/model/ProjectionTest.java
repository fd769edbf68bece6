package dev.lowbit.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** Projection names: the Hugging Face weight names files use, read back to the projection. */
class ProjectionTest {
    @Test
    void weightNamesAreHuggingFacesAndReadBack() {
        assertEquals("model.layers.3.self_attn.q_proj.weight", Projection.Q.weightName(3));
        assertEquals("model.layers.0.mlp.down_proj.weight", Projection.DOWN.weightName(0));
        for (Projection p : Projection.values()) assertEquals(p, Projection.ofWeightName(p.weightName(12)));
    }

    @Test
    void otherTensorNamesNameNoProjection() {
        for (String name : new String[] {
            "model.layers.0.input_layernorm.weight",
            "model.embed_tokens.weight",
            "lm_head.weight",
            "model.layers.0.mlp.q_proj.weight",
            "model.layers.0.self_attn.q_proj.bias",
            "model.layers.0.self_attn.x_proj.weight"
        }) assertNull(Projection.ofWeightName(name), name);
    }
}
