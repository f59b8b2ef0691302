package dev.branchboot.agent.cli;

import java.io.PrintStream;

/** One subcommand of {@code branchboot-agent}. */
public interface AgentCommand {

    /** What the command accepts, for parsing and for {@code --help}. */
    CommandSpec spec();

    /**
     * Runs the command; returns its exit status. Throws {@link UsageException} for a bad value
     * (exit 2) and any other exception for a failure (exit 1), reported as one line.
     */
    int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception;
}
