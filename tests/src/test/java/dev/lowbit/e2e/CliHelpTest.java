package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lowbit.cli.LowbitCli;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** Every subcommand prints its usage with --help and the version with --version, as README promises. */
class CliHelpTest {
    /** The subcommands as picocli sees them, so one added later is covered too. */
    static Stream<String> subcommands() {
        return new CommandLine(new LowbitCli()).getSubcommands().keySet().stream();
    }

    /** Those that are lowbit's own: picocli's help command has --help but no --version. */
    static Stream<String> ownSubcommands() {
        return subcommands().filter(name -> !(spec(name).userObject() instanceof HelpCommand));
    }

    private static CommandSpec spec(String name) {
        return new CommandLine(new LowbitCli()).getSubcommands().get(name).getCommandSpec();
    }

    @ParameterizedTest
    @MethodSource("subcommands")
    void helpPrintsTheUsageAndSucceeds(String name) {
        CliInfoTest.Result r = CliInfoTest.run(name, "--help");
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("Usage: lowbit " + name + " "), r.out());
        assertFalse(r.out().contains("Unknown option"), r.out());
        for (OptionSpec option : spec(name).options()) {
            String shown = option.negatable() ? "--[no-]" + option.longestName().substring(2) : option.longestName();
            if (!option.hidden()) assertTrue(r.out().contains(shown), shown + " missing from\n" + r.out());
        }
        if (!(spec(name).userObject() instanceof HelpCommand))
            for (String standard : List.of("--help", "--version"))
                assertTrue(r.out().contains(standard), standard + " in\n" + r.out());
    }

    @ParameterizedTest
    @MethodSource("ownSubcommands")
    void versionPrintsTheVersionAndSucceeds(String name) {
        CliInfoTest.Result r = CliInfoTest.run(name, "--version");
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().matches("lowbit \\S.*\\R"), r.out());
        assertEquals(CliInfoTest.run("--version").out(), r.out(), "the same version as lowbit --version");
    }
}
