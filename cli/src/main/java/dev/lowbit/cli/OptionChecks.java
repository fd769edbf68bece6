package dev.lowbit.cli;

import dev.lowbit.runtime.LowbitException;
import java.util.Locale;

/**
 * Range checks of option values, run before a command starts its work; a refusal names the
 * option as the user typed it and the values it takes.
 */
final class OptionChecks {
    private OptionChecks() {}

    static void atLeast(String option, long value, long min) {
        if (value < min) throw new LowbitException(option + " " + value + " is out of range: give " + min + " or more");
    }

    static void within(String option, long value, long min, long max) {
        if (value < min || value > max)
            throw new LowbitException(
                    option + " " + value + " is out of range: give " + min + " to " + String.format("%,d", max));
    }

    /** A finite number in [min, max]; minOpen leaves min itself out. */
    static void within(String option, double value, double min, boolean minOpen, double max) {
        boolean ok = Double.isFinite(value) && (minOpen ? value > min : value >= min) && value <= max;
        if (!ok)
            throw new LowbitException(option + " " + value + " is out of range: give a finite number "
                    + (Double.isInfinite(max)
                            ? (minOpen ? "above " : "of at least ") + fmt(min)
                            : (minOpen ? "above " + fmt(min) + " up to " : "from " + fmt(min) + " to ") + fmt(max)));
    }

    /** A finite number above min (min itself left out when open). */
    static void above(String option, double value, double min, boolean open) {
        within(option, value, min, open, Double.POSITIVE_INFINITY);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%s", v);
    }
}
