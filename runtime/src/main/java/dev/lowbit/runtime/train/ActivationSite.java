package dev.lowbit.runtime.train;

import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.Projection;
import java.util.List;

/**
 * The three activations of a block that linears read besides o_proj's attention output: the normed
 * attention input (q/k/v), the normed MLP input (gate/up) and the SwiGLU output (down). SmoothQuant
 * smooths and QLLM reassembles channels at these sites ({@link BlockPass#input} gives them).
 */
public enum ActivationSite {
    QKV("q/k/v", List.of(Projection.Q, Projection.K, Projection.V)),
    GATE_UP("gate/up", List.of(Projection.GATE, Projection.UP)),
    DOWN("down", List.of(Projection.DOWN));

    private final String label;
    private final List<Projection> readers;

    ActivationSite(String label, List<Projection> readers) {
        this.label = label;
        this.readers = readers;
    }

    /** A short name for reports, e.g. {@code q/k/v}. */
    public String label() {
        return label;
    }

    /** The linears that read this activation. */
    public List<Projection> readers() {
        return readers;
    }

    /** The activation's channels: the model dimension, or the MLP's hidden dimension for down's input. */
    public int width(LlamaConfig c) {
        return this == DOWN ? c.hiddenDim() : c.dim();
    }
}
