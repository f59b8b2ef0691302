package dev.branchboot.agent.cli;

import dev.branchboot.qcow2.ImageException;
import java.io.IOException;
import java.io.PrintWriter;
import picocli.CommandLine;

/**
 * Shared command-line conventions: one clear line on stderr for every error, exit status 1 for a
 * failure and 2 for bad usage, and a stack trace only when {@code BRANCHBOOT_DEBUG} is set.
 */
public final class CommandLines {
    /** Exit status of a command that failed at run time. */
    public static final int EXIT_FAILURE = 1;
    /** Exit status of a command line that could not be parsed. */
    public static final int EXIT_USAGE = 2;

    private CommandLines() {
    }

    /** A picocli command line for {@code command} with the project's error handling. */
    public static CommandLine create(Object command) {
        CommandLine cl = new CommandLine(command);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((ex, line, parseResult) -> {
            PrintWriter err = line.getErr();
            err.println(line.getCommandName() + ": " + describe(ex));
            if (System.getenv("BRANCHBOOT_DEBUG") != null) {
                ex.printStackTrace(err);
            }
            err.flush();
            return EXIT_FAILURE;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine line = ex.getCommandLine();
            PrintWriter err = line.getErr();
            err.println(line.getCommandName() + ": " + ex.getMessage());
            err.println("Try '" + line.getCommandSpec().qualifiedName() + " --help' for more information.");
            err.flush();
            return EXIT_USAGE;
        });
        return cl;
    }

    /** One line saying what went wrong, without the exception class for expected failures. */
    static String describe(Throwable ex) {
        if (ex instanceof ImageException || ex instanceof IllegalArgumentException || ex instanceof IndexOutOfBoundsException) {
            return ex.getMessage();
        }
        if (ex instanceof IOException) {
            String message = ex.getMessage();
            return message == null ? ex.getClass().getSimpleName() : message;
        }
        return ex.toString();
    }

    /** The version printed by {@code --version}, from the jar's manifest. */
    public static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = CommandLines.class.getPackage().getImplementationVersion();
            return new String[] {"branchboot-agent " + (version == null ? "(development build)" : version)};
        }
    }
}
