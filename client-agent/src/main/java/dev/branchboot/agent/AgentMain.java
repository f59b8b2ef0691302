package dev.branchboot.agent;

import dev.branchboot.agent.attach.AttachCommand;
import dev.branchboot.agent.attach.DetachCommand;
import dev.branchboot.agent.cat.CatCommand;
import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandLines;
import dev.branchboot.agent.info.InfoCommand;
import dev.branchboot.agent.manifest.ManifestCommand;
import dev.branchboot.agent.serve.ServeCommand;
import dev.branchboot.agent.train.TrainCommand;
import java.io.PrintStream;
import java.util.List;

/** The {@code branchboot-agent} command: inspects and exports QCOW2 disk images. */
public final class AgentMain {
    private static final String PROGRAM = "branchboot-agent";
    private static final String SUMMARY = "Reads QCOW2 disk images (compressed, sparse, with backing files) and exports them.";

    private AgentMain() {
    }

    /** The subcommands, in the order help lists them. */
    static List<AgentCommand> commands() {
        return List.of(new InfoCommand(), new CatCommand(), new ServeCommand(), new AttachCommand(), new DetachCommand(),
                new ManifestCommand(), new TrainCommand());
    }

    /** Runs the command line and exits with its status: 0 success, 1 failure, 2 bad usage. */
    public static void main(String[] args) {
        System.exit(run(System.out, System.err, args));
    }

    /** Runs the command line against the process's standard streams, without exiting. */
    public static int run(String... args) {
        return run(System.out, System.err, args);
    }

    /** Runs the command line against the given streams, without exiting. */
    public static int run(PrintStream out, PrintStream err, String... args) {
        return CommandLines.execute(PROGRAM, SUMMARY, commands(), args, out, err);
    }
}
