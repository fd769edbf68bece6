package dev.lowbit.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Loading liblowbit sets libgomp's wait policy (its env is read at load): PASSIVE unless the user chose one, by
 * OMP_WAIT_POLICY or by -Dlowbit.omp.waitPolicy, which wins. Each case runs in a fresh JVM, as the policy is
 * fixed once per process; the child reads the process environment back through libc's getenv.
 */
class WaitPolicyTest {
    /** The child: loads liblowbit and prints what libgomp will read. */
    public static void main(String[] args) {
        System.out.print(NativeLibraries.ompWaitPolicy());
    }

    @Test
    void passiveByDefault() throws Exception {
        assertEquals("PASSIVE (lowbit's default)", child(List.of(), null));
    }

    @Test
    void theUsersEnvironmentIsKept() throws Exception {
        assertEquals("ACTIVE (OMP_WAIT_POLICY)", child(List.of(), "ACTIVE"));
    }

    @Test
    void thePropertyWinsOverTheEnvironment() throws Exception {
        assertEquals("ACTIVE (-Dlowbit.omp.waitPolicy)", child(List.of("-Dlowbit.omp.waitPolicy=active"), "PASSIVE"));
    }

    private static String child(List<String> jvmArgs, String env) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        for (String property : new String[] {"lowbit.native.dir"})
            if (System.getProperty(property) != null) command.add("-D" + property + "=" + System.getProperty(property));
        command.addAll(jvmArgs);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), WaitPolicyTest.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().remove("OMP_WAIT_POLICY");
        if (env != null) pb.environment().put("OMP_WAIT_POLICY", env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        assertEquals(0, p.exitValue(), out);
        return out.trim();
    }
}
