package dev.branchboot.agent.attach;

import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ParsedArguments;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * {@code detach --device /dev/nbd0}: undoes {@code attach}. Disconnects the device with
 * {@code nbd-client -d}, then stops the agent named in the pid file with SIGTERM and waits for it
 * (it finishes requests in flight and flushes a file overlay). The filesystem on the device must be
 * unmounted first.
 */
public final class DetachCommand implements AgentCommand {
    private static final CommandSpec SPEC = new CommandSpec("detach",
            "Disconnects an NBD device connected by 'attach' and stops the agent serving it. Unmount the filesystem first.")
            .option("--device", "DEVICE", "The NBD device (required), e.g. /dev/nbd0.")
            .option("--nbd-client", "PROGRAM", "The nbd-client program (default: nbd-client, from PATH).")
            .option("--pid-file", "PATH", "The agent's pid file written by attach (default: /run/branchboot/nbdN.pid).")
            .option("--stop-timeout", "DURATION", "How long to wait for the agent to exit after SIGTERM (default: 30s).");

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        NbdDevice device = NbdDevice.fromOption(args);
        String nbdClient = args.string("--nbd-client", "nbd-client");
        Path pidFile = args.path("--pid-file");
        pidFile = pidFile != null ? pidFile : device.defaultPidFile();
        Duration stopTimeout = args.duration("--stop-timeout", Duration.ofSeconds(30), Duration.ZERO, Duration.ofHours(1));

        ProcessRunner.Result result;
        try {
            result = ProcessRunner.run(NbdClientCommand.disconnect(nbdClient, device), 60);
        } catch (IOException e) {
            throw new AttachException(device.toString(), null, "could not run " + nbdClient + ": " + e.getMessage(), e);
        }
        if (result.status() != 0) {
            throw new AttachException(device.toString(), null, nbdClient + " -d exited with status " + result.status()
                    + (result.output().isBlank() ? "" : ": " + result.brief()));
        }
        Optional<ProcessHandle> agent = agent(pidFile, device);
        if (agent.isEmpty()) {
            err.println("detach: " + device + " disconnected; no agent running (no pid in " + pidFile + ")");
            return 0;
        }
        ProcessHandle process = agent.get();
        process.destroy(); // SIGTERM: the agent drains and exits 0
        try {
            process.onExit().get(Math.max(1, stopTimeout.toMillis()), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AttachException(device.toString(), null, "the agent (pid " + process.pid() + ") did not exit within "
                    + stopTimeout.toSeconds() + " s of SIGTERM");
        }
        err.println("detach: " + device + " disconnected; agent (pid " + process.pid() + ") stopped");
        return 0;
    }

    private static Optional<ProcessHandle> agent(Path pidFile, NbdDevice device) throws AttachException {
        String text;
        try {
            text = Files.readString(pidFile, StandardCharsets.UTF_8).trim();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new AttachException(device.toString(), null, "cannot read the pid file " + pidFile + ": " + e.getMessage(), e);
        }
        try {
            return ProcessHandle.of(Long.parseLong(text));
        } catch (NumberFormatException e) {
            throw new AttachException(device.toString(), null, "the pid file " + pidFile + " holds no pid: '" + text + "'");
        }
    }
}
