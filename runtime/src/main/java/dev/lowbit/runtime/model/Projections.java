package dev.lowbit.runtime.model;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Function;

/** One value per linear projection of a block (weights, layers, gradients, ...), by name. */
public record Projections<T>(T q, T k, T v, T o, T gate, T up, T down) {
    /** The value for each projection, as of gives it. */
    public static <T> Projections<T> of(Function<Projection, T> of) {
        return new Projections<>(
                of.apply(Projection.Q),
                of.apply(Projection.K),
                of.apply(Projection.V),
                of.apply(Projection.O),
                of.apply(Projection.GATE),
                of.apply(Projection.UP),
                of.apply(Projection.DOWN));
    }

    public T get(Projection p) {
        return switch (p) {
            case Q -> q;
            case K -> k;
            case V -> v;
            case O -> o;
            case GATE -> gate;
            case UP -> up;
            case DOWN -> down;
        };
    }

    public <R> Projections<R> map(Function<? super T, ? extends R> f) {
        return of(p -> f.apply(get(p)));
    }

    /** f applied to each projection's name and value. */
    public <R> Projections<R> map(BiFunction<Projection, ? super T, ? extends R> f) {
        return of(p -> f.apply(p, get(p)));
    }

    /** The values in {@link Projection} order. */
    public List<T> toList() {
        return Collections.unmodifiableList(
                Arrays.asList(q, k, v, o, gate, up, down)); // values may be null (frozen gradients)
    }
}
