package dev.lowbit.cli;

import dev.lowbit.bench.BenchCommand;
import dev.lowbit.runtime.LowbitException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code lowbit} command line: one subcommand per job. */
@Command(name = "lowbit", mixinStandardHelpOptions = true, versionProvider = LowbitCli.Version.class,
        description = "Low-bit LLM quantization on the JVM.",
        subcommands = {InfoCommand.class, PretrainCommand.class, EvalCommand.class, GenerateCommand.class, QuantizeCommand.class,
                BenchCommand.class, SynthCommand.class, CommandLine.HelpCommand.class})
public final class LowbitCli {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (for tests and embedding). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new LowbitCli());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof LowbitException) {
                cmd.getErr().println("lowbit: " + e.getMessage());
                return 1;
            }
            throw e;
        });
        return cli.execute(args);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LowbitCli.class.getPackage().getImplementationVersion();
            return new String[] {"lowbit " + (v == null ? "(development build)" : v)};
        }
    }
}
