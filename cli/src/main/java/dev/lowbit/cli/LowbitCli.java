package dev.lowbit.cli;

import dev.lowbit.bench.BenchCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/** The {@code lowbit} command line: one subcommand per job. */
@Command(
        name = "lowbit",
        mixinStandardHelpOptions = true,
        versionProvider = LowbitCli.Version.class,
        description = "Low-bit LLM quantization on the JVM.",
        exitCodeListHeading = "Exit codes:%n",
        subcommands = {
            InfoCommand.class,
            PretrainCommand.class,
            EvalCommand.class,
            GenerateCommand.class,
            ServeCommand.class,
            QuantizeCommand.class,
            ExportCommand.class,
            BenchCommand.class,
            SynthCommand.class,
            HelpCommand.class
        })
public final class LowbitCli {
    @Option(
            names = "--verbose",
            scope = ScopeType.INHERIT,
            description = "on failure, print the stack trace above the one-line message (also LOWBIT_DEBUG=1)")
    boolean verbose;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (for tests and embedding). */
    public static int run(String... args) {
        LowbitCli top = new LowbitCli();
        CommandLine cli = new CommandLine(top);
        cli.getCommandSpec().usageMessage().exitCodeList(ExitCode.helpList());
        for (CommandLine sub : cli.getSubcommands().values()) withHelpAndVersion(sub.getCommandSpec());
        cli.setExecutionExceptionHandler(
                (e, cmd, parsed) -> Failure.of(e, cmd.getCommandName()).report(cmd.getErr(), e, top.debug()));
        cli.setParameterExceptionHandler(LowbitCli::usageError);
        try {
            return cli.execute(args);
        } catch (RuntimeException | Error e) { // thrown outside a command's call, e.g. while printing help
            return Failure.of(e, commandName(cli)).report(cli.getErr(), e, top.debug());
        }
    }

    /** The subcommand that was running, as far as the command line was parsed. */
    private static String commandName(CommandLine cli) {
        ParseResult parsed = cli.getParseResult();
        if (parsed == null) return "";
        while (parsed.hasSubcommand()) parsed = parsed.subcommand();
        return parsed.commandSpec().name();
    }

    /** Whether a failure prints its trace. */
    private boolean debug() {
        return verbose || "1".equals(System.getenv("LOWBIT_DEBUG"));
    }

    /** A bad command line: the one line picocli gives and where to read the usage, not the whole usage. */
    private static int usageError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        String name = cmd.getCommandSpec().qualifiedName();
        cmd.getErr().println(name + ": " + Failure.oneLine(e.getMessage()) + " (see " + name + " --help)");
        cmd.getErr().flush();
        return ExitCode.USAGE.code;
    }

    /**
     * Every subcommand, including ones added later, prints its usage with --help and the version
     * with --version; picocli's own {@code help} command already has its --help.
     */
    private static void withHelpAndVersion(CommandSpec spec) {
        if (spec.userObject() instanceof HelpCommand) return;
        if (!spec.mixinStandardHelpOptions()) spec.mixinStandardHelpOptions(true);
        if (spec.versionProvider() == null) spec.versionProvider(new Version());
        spec.usageMessage().exitCodeListHeading("Exit codes:%n").exitCodeList(ExitCode.helpList());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LowbitCli.class.getPackage().getImplementationVersion();
            return new String[] {"lowbit " + (v == null ? "(development build)" : v)};
        }
    }
}
