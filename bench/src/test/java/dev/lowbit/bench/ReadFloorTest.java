package dev.lowbit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The read floor reads every byte of its buffer: its sum against the closed form of 0 + 1 + ... + (n - 1). */
class ReadFloorTest {
    @Test
    void sumsEveryLongOfTheBuffer() {
        for (long bytes : new long[] {8, 100_003, 4_000_000}) // below and above the size that goes parallel
        try (ReadFloor floor = new ReadFloor(bytes)) {
                assertTrue(
                        floor.bytes() >= bytes && floor.bytes() % 8 == 0,
                        "at least the bytes asked for, whole longs: " + floor.bytes());
                long n = floor.bytes() / 8;
                assertEquals(n * (n - 1) / 2, floor.read(), bytes + " bytes");
                assertEquals(n * (n - 1) / 2, floor.read(), "a second read gives the same sum");
            }
    }
}
