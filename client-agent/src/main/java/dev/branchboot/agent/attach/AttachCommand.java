package dev.branchboot.agent.attach;

import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.agent.cli.Logging;
import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.agent.cli.UsageException;
import dev.branchboot.agent.http.HttpSettings;
import dev.branchboot.agent.serve.ListenAddress;
import dev.branchboot.agent.serve.ServeCommand;
import dev.branchboot.agent.serve.ServingThread;
import java.io.IOException;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.logging.Logger;

/**
 * {@code attach --device /dev/nbd0 --image ...}: {@code serve} on a unix socket, then
 * {@code nbd-client} against it with root-disk settings ({@link NbdClientCommand}), then keeps
 * serving in the foreground until SIGTERM (or {@code detach}). The agent's pid goes to a pid file
 * for {@code detach}. If nbd-client fails, the export is stopped and the command fails.
 */
public final class AttachCommand implements AgentCommand {
    private static final Logger LOG = Logger.getLogger(AttachCommand.class.getName());
    private static final Duration START_WHEN_LIMIT = Duration.ofMinutes(10);
    private static final CommandSpec SPEC = ServeCommand.declareOptions(new CommandSpec("attach",
            "Serves an image over NBD on a unix socket and connects a kernel NBD device (/dev/nbdN) to it with nbd-client,",
            "then keeps serving in the foreground until SIGTERM. Takes every option of 'serve'; --listen defaults to",
            "unix:/run/branchboot/nbdN.sock. Run it as root; 'detach --device' undoes it.")
            .option("--device", "DEVICE", "The NBD device to connect (required), e.g. /dev/nbd0.")
            .option("--nbd-client", "PROGRAM", "The nbd-client program (default: nbd-client, from PATH).")
            .option("--block-size", "BYTES", "Logical block size of the device: 512, 1024, 2048 or 4096 (default: 512, "
                    + "the sector size partition tables are written for; a filesystem's block size must be at least this).")
            .option("--nbd-timeout", "DURATION", "The kernel's request timeout; after it the kernel drops the connection and "
                    + "fails all I/O (default: --retry-deadline + --request-timeout + 30s, so the agent's own answer comes "
                    + "first; 0 for none).")
            .option("--connections", "N", "Connections from the kernel to the agent (default: 1).")
            .flag("--ioctl", "Use nbd-client's ioctl interface with -persist (an nbd-client daemon stays and reconnects) "
                    + "instead of netlink.")
            .option("--pid-file", "PATH", "Write the agent's pid here once the device is connected (default: "
                    + "/run/branchboot/nbdN.pid).")
            .option("--attach-timeout", "DURATION", "How long nbd-client may take to connect (default: 60s).")
            .option("--start-when", "FILE", "Wait until FILE exists before opening the image (at most "
                    + START_WHEN_LIMIT.toMinutes() + " minutes): a boot script starts the agent first and creates FILE once "
                    + "the network is up, so the JVM starts while the network comes up. The options are checked and the "
                    + "trust key read before the wait."));

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        NbdDevice device = NbdDevice.fromOption(args);
        String image = args.string("--image", null);
        if (image == null) {
            throw new UsageException("Missing required option: '--image=IMAGE'");
        }
        ParsedArguments serveArgs = args.withDefault("--listen", "unix:" + device.defaultSocket());
        Path socket = unixSocket(serveArgs.string("--listen", null));
        HttpSettings http = ImageArgument.httpSettings(args);
        Duration timeout = args.duration("--nbd-timeout",
                NbdClientCommand.rootDiskTimeout(http.retryDeadline(), http.requestTimeout()), Duration.ZERO, Duration.ofDays(1));
        String exportName = args.string("--export-name", image.substring(image.lastIndexOf('/') + 1));
        NbdClientCommand nbdClient;
        try {
            nbdClient = new NbdClientCommand(args.string("--nbd-client", "nbd-client"), socket, device, exportName,
                    args.integer("--block-size", 512, 512, 4096), timeout, args.integer("--connections", 1, 1, 16),
                    args.flag("--ioctl"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        Path pidFile = args.path("--pid-file");
        pidFile = pidFile != null ? pidFile : device.defaultPidFile();
        Duration attachTimeout = args.duration("--attach-timeout", Duration.ofSeconds(60), Duration.ofSeconds(1), Duration.ofHours(1));
        Logging.configure(args.flag("--verbose"));
        if (device.connected()) {
            throw new AttachException(device.toString(), image, "the device is already connected (see /sys/block/"
                    + device.name() + "/pid); detach it first");
        }
        // Before the wait: a bad option fails now, not once the network is up, and the trust key is
        // made while the network comes up.
        ServeCommand serve = ServeCommand.configured(serveArgs);
        Path startWhen = args.path("--start-when");
        if (startWhen != null) {
            awaitStartSignal(startWhen, device, image);
        }
        Files.deleteIfExists(socket); // a stale one from an agent that died would look ready
        return attach(serve, device, image, socket, nbdClient, pidFile, attachTimeout);
    }

    /**
     * Waits for the boot script's signal that the network is up. Polled every 10 ms: a file needs
     * nothing the initramfs may lack (no inotify tools, no FIFO semantics to get wrong), and 10 ms
     * is nothing next to a JVM's start, which is what the wait lets overlap the network's set-up.
     */
    private static void awaitStartSignal(Path file, NbdDevice device, String image) throws AttachException, InterruptedException {
        LOG.fine("waiting for " + file + " before opening " + image);
        long deadline = System.nanoTime() + START_WHEN_LIMIT.toNanos();
        while (!Files.exists(file)) {
            if (System.nanoTime() - deadline > 0) {
                throw new AttachException(device.toString(), image, file + " did not appear within " + START_WHEN_LIMIT.toMinutes()
                        + " minutes (--start-when): the boot script never said the network was up");
            }
            Thread.sleep(10);
        }
    }

    private static Path unixSocket(String listen) throws UsageException {
        ListenAddress address;
        try {
            address = ListenAddress.parse(listen);
        } catch (IllegalArgumentException e) {
            throw new UsageException("Invalid value for option '--listen': " + e.getMessage());
        }
        if (!(address.address() instanceof UnixDomainSocketAddress unix)) {
            throw new UsageException("attach needs --listen unix:PATH (nbd-client connects to the agent on this machine)");
        }
        return unix.getPath();
    }

    private int attach(ServeCommand serve, NbdDevice device, String image, Path socket,
                       NbdClientCommand nbdClient, Path pidFile, Duration attachTimeout) throws Exception {
        ServingThread serving = ServingThread.start(serve);
        // serve renames the socket into place once it listens: its appearance means ready.
        serving.awaitListening(socket, null);
        if (!serving.isAlive()) {
            return serving.result();
        }
        LOG.info("export ready on " + socket + "; connecting " + device + ": " + String.join(" ", nbdClient.connect()));
        ProcessRunner.Result result;
        try {
            result = ProcessRunner.run(nbdClient.connect(), Math.max(1, attachTimeout.toSeconds()));
        } catch (IOException e) {
            serving.stop();
            throw new AttachException(device.toString(), image, "could not run " + nbdClient.nbdClient() + ": " + e.getMessage(), e);
        }
        if (result.status() != 0) {
            serving.stop();
            throw new AttachException(device.toString(), image, nbdClient.nbdClient() + " exited with status " + result.status()
                    + (result.output().isBlank() ? "" : ": " + result.brief()));
        }
        writePidFile(pidFile);
        LOG.info(device + " connected to export '" + nbdClient.exportName() + "'; serving until SIGTERM (pid "
                + ProcessHandle.current().pid() + " in " + pidFile + ")");
        try {
            return serving.result();
        } finally {
            Files.deleteIfExists(pidFile);
        }
    }

    private static void writePidFile(Path file) throws IOException {
        Path absolute = file.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        Path tmp = absolute.resolveSibling("." + absolute.getFileName() + ".tmp");
        Files.writeString(tmp, ProcessHandle.current().pid() + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, absolute, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
