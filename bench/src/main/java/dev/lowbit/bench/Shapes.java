package dev.lowbit.bench;

/** "NxK" benchmark parameters: N output features by K input features. */
final class Shapes {
    private Shapes() {}

    static int n(String shape) {
        return Integer.parseInt(shape.substring(0, shape.indexOf('x')));
    }

    static int k(String shape) {
        return Integer.parseInt(shape.substring(shape.indexOf('x') + 1));
    }
}
