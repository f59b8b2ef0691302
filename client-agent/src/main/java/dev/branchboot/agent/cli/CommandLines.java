package dev.branchboot.agent.cli;

import dev.branchboot.qcow2.ImageException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;

/**
 * Runs a program made of subcommands with the project's conventions: {@code --help} everywhere,
 * one clear line on stderr for every error, exit status 1 for a failure and 2 for bad usage, and a
 * stack trace only when {@code BRANCHBOOT_DEBUG} is set.
 *
 * <p>Hand-written rather than picocli: picocli's reflective start-up cost about 0.3 s on the host
 * before the first byte was read, and the agent starts in an initramfs, often under emulation,
 * where every second of start-up delays the boot.
 */
public final class CommandLines {
    /** Exit status of a command that failed at run time. */
    public static final int EXIT_FAILURE = 1;
    /** Exit status of a command line that could not be parsed. */
    public static final int EXIT_USAGE = 2;

    private CommandLines() {
    }

    /** Dispatches {@code args} to the subcommand it names and returns the exit status. */
    public static int execute(String program, String summary, List<AgentCommand> commands, String[] args, PrintStream out,
                              PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help") || args[0].equals("help")) {
            if (args.length >= 2 && args[0].equals("help")) {
                AgentCommand command = find(commands, args[1]);
                if (command != null) {
                    out.print(command.spec().help(program));
                    return 0;
                }
            }
            (args.length == 0 ? err : out).print(rootHelp(program, summary, commands));
            return args.length == 0 ? EXIT_USAGE : 0;
        }
        if (args[0].equals("-V") || args[0].equals("--version")) {
            out.println(version(program));
            return 0;
        }
        AgentCommand command = find(commands, args[0]);
        if (command == null) {
            err.println(program + ": unknown command '" + args[0] + "'");
            err.println("Try '" + program + " --help' for the list of commands.");
            return EXIT_USAGE;
        }
        String name = command.spec().name();
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        try {
            ParsedArguments parsed = command.spec().parse(rest);
            if (parsed.helpRequested()) {
                out.print(command.spec().help(program));
                return 0;
            }
            return command.run(parsed, out, err);
        } catch (UsageException e) {
            err.println(name + ": " + e.getMessage());
            err.println("Try '" + program + " " + name + " --help' for more information.");
            return EXIT_USAGE;
        } catch (Exception | Error e) {
            err.println(name + ": " + describe(e));
            if (System.getenv("BRANCHBOOT_DEBUG") != null) {
                e.printStackTrace(err);
            }
            return EXIT_FAILURE;
        } finally {
            out.flush();
            err.flush();
        }
    }

    private static AgentCommand find(List<AgentCommand> commands, String name) {
        for (AgentCommand command : commands) {
            if (command.spec().name().equals(name)) {
                return command;
            }
        }
        return null;
    }

    private static String rootHelp(String program, String summary, List<AgentCommand> commands) {
        StringBuilder out = new StringBuilder("Usage: ").append(program).append(" COMMAND [OPTIONS] ...\n")
                .append(summary).append("\n\nCommands:\n");
        for (AgentCommand command : commands) {
            CommandSpec spec = command.spec();
            out.append(String.format("  %-10s %s%n", spec.name(), spec.description().isEmpty() ? "" : spec.description().get(0)));
        }
        out.append("\nOptions:\n  -h, --help     Show this help and exit.\n  -V, --version  Show the version and exit.\n")
                .append("\n'").append(program).append(" COMMAND --help' describes a command.\n");
        return out.toString();
    }

    private static String version(String program) {
        String version = CommandLines.class.getPackage().getImplementationVersion();
        return program + " " + (version == null ? "(development build)" : version);
    }

    /** One line saying what went wrong, without the exception class for expected failures. */
    static String describe(Throwable ex) {
        if (ex.getMessage() == null || ex.getMessage().isBlank()) {
            // Never "null": the exception's kind, and its cause when it has one.
            String kind = ex.getClass().getSimpleName().replaceAll("(Exception|Error)$", "").replaceAll("([a-z])([A-Z])", "$1 $2")
                    .toLowerCase(java.util.Locale.ROOT);
            return ex.getCause() == null ? kind : kind + ": " + describe(ex.getCause());
        }
        if (ex instanceof ImageException || ex instanceof IllegalArgumentException || ex instanceof IndexOutOfBoundsException) {
            return ex.getMessage();
        }
        if (ex instanceof IOException) {
            String message = ex.getMessage();
            return message == null ? ex.getClass().getSimpleName() : message;
        }
        if (ex instanceof OutOfMemoryError) {
            return "out of memory (raise -Xmx or lower the cache sizes)";
        }
        return ex.toString();
    }
}
