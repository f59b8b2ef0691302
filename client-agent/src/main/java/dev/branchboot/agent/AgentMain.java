package dev.branchboot.agent;

import dev.branchboot.agent.cat.CatCommand;
import dev.branchboot.agent.cli.CommandLines;
import dev.branchboot.agent.info.InfoCommand;
import dev.branchboot.agent.serve.ServeCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code branchboot-agent} command: inspects and exports QCOW2 disk images.
 */
@Command(name = "branchboot-agent",
        mixinStandardHelpOptions = true,
        versionProvider = CommandLines.Version.class,
        description = "Reads QCOW2 disk images (compressed, sparse, with backing files) and exports them.",
        subcommands = {InfoCommand.class, CatCommand.class, ServeCommand.class, CommandLine.HelpCommand.class})
public final class AgentMain {

    /** Runs the command line and exits with its status: 0 success, 1 failure, 2 bad usage. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line without exiting, for tests. */
    public static int run(String... args) {
        return CommandLines.create(new AgentMain()).execute(args);
    }
}
