package dev.lowbit.cli;

import dev.lowbit.bench.BenchCommand;
import dev.lowbit.runtime.LowbitException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;

/** The {@code lowbit} command line: one subcommand per job. */
@Command(
        name = "lowbit",
        mixinStandardHelpOptions = true,
        versionProvider = LowbitCli.Version.class,
        description = "Low-bit LLM quantization on the JVM.",
        subcommands = {
            InfoCommand.class,
            PretrainCommand.class,
            EvalCommand.class,
            GenerateCommand.class,
            QuantizeCommand.class,
            BenchCommand.class,
            SynthCommand.class,
            HelpCommand.class
        })
public final class LowbitCli {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (for tests and embedding). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new LowbitCli());
        for (CommandLine sub : cli.getSubcommands().values()) withHelpAndVersion(sub.getCommandSpec());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof LowbitException) {
                cmd.getErr().println("lowbit: " + e.getMessage());
                return 1;
            }
            throw e;
        });
        return cli.execute(args);
    }

    /**
     * Every subcommand, including ones added later, prints its usage with --help and the version
     * with --version; picocli's own {@code help} command already has its --help.
     */
    private static void withHelpAndVersion(CommandSpec spec) {
        if (spec.userObject() instanceof HelpCommand) return;
        if (!spec.mixinStandardHelpOptions()) spec.mixinStandardHelpOptions(true);
        if (spec.versionProvider() == null) spec.versionProvider(new Version());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LowbitCli.class.getPackage().getImplementationVersion();
            return new String[] {"lowbit " + (v == null ? "(development build)" : v)};
        }
    }
}
