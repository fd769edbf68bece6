package dev.lowbit.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Stop strings: the text is cut before the first one, and no part of one is passed on early. */
class StopTextTest {
    @Test
    void aStopStringSplitAcrossPiecesIsCutAndNeverPassedOn() {
        StopText s = new StopText(List.of("\n\n", "END"));
        assertEquals("Hello", s.push("Hello"));
        assertEquals(" wor", s.push(" worE"), "E could begin END: held back");
        assertEquals("Eld", s.push("ld"), "not END after all");
        assertEquals("", s.push("\n"));
        assertFalse(s.stopped());
        assertEquals("", s.push("\nmore"));
        assertTrue(s.stopped());
        assertEquals("", s.push("after"));
        assertEquals("", s.flush());
    }

    @Test
    void theEarliestStopWinsAndTheTailIsFlushedAtTheEnd() {
        StopText s = new StopText(List.of("cd", "b"));
        assertEquals("a", s.push("abcd"));
        assertTrue(s.stopped());
        StopText t = new StopText(List.of("xyz"));
        assertEquals("ab", t.push("abxy"));
        assertEquals("xy", t.flush(), "generation ended before the stop string completed");
        assertEquals("plain", new StopText(List.of()).push("plain"));
    }
}
