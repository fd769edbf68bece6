package dev.lowbit.methods.eval;

import dev.lowbit.runtime.LowbitException;
import java.util.Collections;
import java.util.List;

/**
 * One multiple-choice question: choice i is the continuation continuations[i] after contexts[i]
 * (the contexts are all equal except in WinoGrande-style partial scoring); label is the right one.
 */
public record McItem(List<String> contexts, List<String> continuations, int label) {
    public McItem {
        if (contexts.size() != continuations.size() || contexts.size() < 2)
            throw new LowbitException("a question needs at least two choices, each with a context and a continuation");
        if (label < 0 || label >= contexts.size())
            throw new LowbitException("label " + label + " is not one of the " + contexts.size() + " choices");
    }

    /** Choices that all follow the same context. */
    public static McItem shared(String context, List<String> continuations, int label) {
        return new McItem(Collections.nCopies(continuations.size(), context), List.copyOf(continuations), label);
    }
}
