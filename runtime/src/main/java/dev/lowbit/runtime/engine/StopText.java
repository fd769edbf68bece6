package dev.lowbit.runtime.engine;

import java.util.List;

/**
 * Cuts generated text before the first stop string, holding back any tail that could still grow
 * into one (so no part of a stop string is ever passed on), as vLLM's and llama.cpp's detokenizers do.
 */
final class StopText {
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    StopText(List<String> stops) {
        this.stops = stops;
    }

    /** Whether a stop string has been seen; nothing more is passed on then. */
    boolean stopped() {
        return stopped;
    }

    /** Takes the next piece of text and returns what may be passed on now. */
    String push(String delta) {
        if (stopped) return "";
        pending.append(delta);
        int cut = -1;
        for (String s : stops) {
            int at = pending.indexOf(s);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0) {
            stopped = true;
            String out = take(cut);
            pending.setLength(0);
            return out;
        }
        int hold = 0; // the longest tail of pending that is a proper prefix of a stop string
        for (String s : stops)
            for (int k = Math.min(s.length() - 1, pending.length()); k > hold; k--)
                if (pending.indexOf(s.substring(0, k), pending.length() - k) >= 0) {
                    hold = k;
                    break;
                }
        return take(pending.length() - hold);
    }

    /** What is held back, at the end of generation (not a stop string after all). */
    String flush() {
        return stopped ? "" : take(pending.length());
    }

    private String take(int n) {
        String out = pending.substring(0, n);
        pending.delete(0, n);
        return out;
    }
}
