package dev.lowbit.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

/** Loading liblowbit sets libgomp's wait policy to PASSIVE unless the user chose one (its env is read at load). */
class WaitPolicyTest {
    @Test
    void passiveUnlessTheUserChoseAPolicy() throws Throwable {
        NativeLibraries.loadLowbit();
        Linker linker = Linker.nativeLinker();
        MethodHandle getenv = linker.downcallHandle(
                linker.defaultLookup().find("getenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = (MemorySegment) getenv.invokeExact(arena.allocateFrom("OMP_WAIT_POLICY"));
            String user = System.getenv("OMP_WAIT_POLICY"); // the JVM's copy, taken at start-up
            assertEquals(user == null ? "PASSIVE" : user, value.reinterpret(64).getString(0));
        }
    }
}
