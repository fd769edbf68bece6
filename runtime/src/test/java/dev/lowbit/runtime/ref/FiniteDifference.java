package dev.lowbit.runtime.ref;

import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.ValueLayout;
import java.util.function.DoubleSupplier;

/** Central differences of a scalar function of fp32 tensor elements, the reference of every backward test. */
public final class FiniteDifference {
    private FiniteDifference() {}

    /** (f(x + h) - f(x - h)) / 2h in element i of t, which is restored afterwards. */
    public static double central(Tensor t, long i, double h, DoubleSupplier f) {
        float x0 = t.segment().getAtIndex(ValueLayout.JAVA_FLOAT, i);
        t.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (x0 + h));
        double up = f.getAsDouble();
        t.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (x0 - h));
        double down = f.getAsDouble();
        t.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, x0);
        return (up - down) / (2 * h);
    }
}
