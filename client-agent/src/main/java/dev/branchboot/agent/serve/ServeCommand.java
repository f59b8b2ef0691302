package dev.branchboot.agent.serve;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.agent.cli.Logging;
import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.agent.cli.UsageException;
import dev.branchboot.agent.http.HttpSettings;
import dev.branchboot.agent.http.RemoteImages;
import dev.branchboot.agent.metrics.MetricsEndpoint;
import dev.branchboot.agent.nbd.NbdExport;
import dev.branchboot.agent.nbd.NbdServer;
import dev.branchboot.agent.units.ByteSizes;
import dev.branchboot.integrity.NativeSha256;
import dev.branchboot.integrity.TrustKey;
import dev.branchboot.qcow2.ClusterDecompressor;
import dev.branchboot.qcow2.ImageFormat;
import dev.branchboot.qcow2.ReadStatistics;
import java.io.IOException;
import java.io.PrintStream;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;

/**
 * {@code serve --image PATH ...}: exports an image over NBD through a copy-on-write overlay. The
 * layers come from {@link ExportStack} (image → overlay → trace) and {@link NbdServer} serves its
 * top; the socket (and the ready file) appear only once the export can be served, and SIGTERM
 * drains in-flight requests, flushes a file overlay and exits 0.
 */
public final class ServeCommand implements AgentCommand {
    private static final Logger LOG = Logger.getLogger(ServeCommand.class.getName());
    private static final String DEFAULT_LISTEN = "unix:/run/branchboot/nbd.sock";
    private static final String DEFAULT_COW = "ram:1G";
    private static final CommandSpec SPEC = declareOptions(new CommandSpec("serve",
            "Exports an image over NBD, with writes kept in a copy-on-write overlay.",
            "The image file is never written. The export answers to its name and to the default (empty) name."));

    /**
     * Adds serve's options (the image, the servers, the overlay, the listen address ...) to
     * {@code spec}, so that a command that serves as one of its steps ({@code attach}) accepts them
     * too and can hand its arguments to {@link #run}.
     */
    public static CommandSpec declareOptions(CommandSpec spec) {
        return ImageArgument.declareHttp(spec
            .option("--image", "IMAGE", "The image (required): a file, an http(s) URL, or with --server its name in the "
                    + "servers' folder."))
            .option("-f, --format", "FORMAT", "Format of the image: qcow2 or raw (default: qcow2).")
            .option("--listen", "ADDRESS", "unix:PATH or tcp:HOST:PORT (default: " + DEFAULT_LISTEN + ").")
            .option("--export-name", "NAME", "The export name (default: the image's file name).")
            .option("--cow", "OVERLAY", "Where writes go: none (read-only export), ram[:SIZE] or file:PATH (default: "
                    + DEFAULT_COW + ").")
            .flag("--cow-reset", "Discard what the overlay file holds and start over.")
            .option("--cache-size", "SIZE", "Memory for decompressed clusters (default: 64M); L2 tables get a quarter of it, "
                    + "at most 32M.")
            .option("--ready-file", "PATH", "Write the listen address here once the export is ready.")
            .option("--trace", "FILE", "Record every read served, with the image-file ranges fetched for it, in FILE (a file or "
                    + "a serial port such as /dev/ttyS1); the format is in docs/boot.md.")
            .option("--metrics", "ADDRESS", "tcp:HOST:PORT: serve the image counters (and the HTTP ones for images on servers) for Prometheus at /metrics.")
            .option("--oom-score-adj", "N", "Set the kernel's OOM score adjustment of the agent (-1000..1000); -1000 for a root "
                    + "disk, so the out-of-memory killer never picks the process the PC's disk depends on (default: unchanged).")
            .flag("-v, --verbose", "Log every connection and refused request.");
    }

    private String image;
    private java.util.List<String> servers;
    private HttpSettings httpSettings;
    private TrustKey trustKey;
    private ImageFormat format;
    private ListenAddress listen;
    private String exportName;
    private CowSpec cow;
    private boolean cowReset;
    private long cacheSize;
    private Path readyFile;
    private Path traceFile;
    private ListenAddress metrics;
    private boolean verbose;
    private Integer oomScoreAdj;

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        configure(args);
        return serve();
    }

    /**
     * serve with its options checked and its trust key being made, not yet opening anything: a
     * command that waits before serving (attach waits for the network) catches a bad option at
     * once and makes the key while it waits.
     */
    public static ServeCommand configured(ParsedArguments args) throws UsageException, IOException {
        ServeCommand command = new ServeCommand();
        command.configure(args);
        return command;
    }

    private void configure(ParsedArguments args) throws UsageException, IOException {
        image = args.string("--image", null);
        if (image == null) {
            throw new UsageException("Missing required option: '--image=IMAGE'");
        }
        servers = args.strings("--server");
        httpSettings = ImageArgument.httpSettings(args);
        trustKey = ImageArgument.trustKey(args);
        format = args.choice("--format", ImageFormat.class, ImageFormat.QCOW2);
        listen = parse("--listen", args.string("--listen", DEFAULT_LISTEN), ListenAddress::parse);
        exportName = args.string("--export-name", null);
        cow = parse("--cow", args.string("--cow", DEFAULT_COW), CowSpec::parse);
        cowReset = args.flag("--cow-reset");
        cacheSize = args.size("--cache-size", 64L << 20, 0, 64L << 30);
        readyFile = args.path("--ready-file");
        traceFile = args.path("--trace");
        String metricsText = args.string("--metrics", null);
        metrics = metricsText == null ? null : parse("--metrics", metricsText, ListenAddress::parse);
        if (metrics != null && !(metrics.address() instanceof java.net.InetSocketAddress)) {
            throw new UsageException("--metrics needs tcp:HOST:PORT");
        }
        verbose = args.flag("--verbose");
        oomScoreAdj = args.string("--oom-score-adj", null) != null
                ? args.integer("--oom-score-adj", 0, OomScore.MIN, OomScore.MAX) : null;
        if (cowReset && cow.kind() != CowSpec.Kind.FILE) {
            throw new UsageException("--cow-reset needs --cow file:PATH");
        }
    }

    private static <T> T parse(String option, String value, java.util.function.Function<String, T> parser) throws UsageException {
        try {
            return parser.apply(value);
        } catch (IllegalArgumentException e) {
            throw new UsageException("Invalid value for option '" + option + "': " + e.getMessage());
        }
    }

    /** Opens the image and serves it until SIGTERM, as configured; returns the exit status. */
    public int serve() throws Exception {
        Logging.configure(verbose);
        if (oomScoreAdj != null) {
            OomScore.set(oomScoreAdj);
        }
        String name = exportName != null ? exportName : image.substring(image.lastIndexOf('/') + 1);
        NbdServer server = null;
        MetricsEndpoint endpoint = null;
        boolean served = false;
        try (ExportStack stack = ExportStack.open(new ExportStack.Options(image, servers, format, httpSettings, trustKey, cow,
                cowReset, cacheSize, traceFile))) {
            try {
                BlockDevice device = stack.device();
                RemoteImages remote = stack.remote();
                ReadStatistics imageStats = stack.imageStatistics();
                server = new NbdServer(new NbdExport(name, device), NbdServer.Limits.forHeap(Runtime.getRuntime().maxMemory()));
                CountDownLatch stop = new CountDownLatch(1);
                Signals.onTermination(stop::countDown);
                if (metrics != null) {
                    endpoint = MetricsEndpoint.start((java.net.InetSocketAddress) metrics.address(), imageStats,
                            remote != null ? remote.stats() : null);
                    LOG.info("metrics on http://" + ListenAddress.format(endpoint.address()).substring(4) + "/metrics");
                }
                Signals.onSummaryRequest(() -> {
                    LOG.info("image: " + MetricsEndpoint.summary(imageStats));
                    if (remote != null) {
                        LOG.info("HTTP: " + remote.stats().summary());
                    }
                });
                SocketAddress bound = server.listen(listen.address());
                served = true;
                if (readyFile != null) {
                    writeReadyFile(readyFile, ListenAddress.format(bound));
                }
                if (!"libdeflate".equals(ClusterDecompressor.deflateDecoder())) {
                    LOG.info("deflate clusters are decoded with zlib, several times slower than libdeflate: the libdeflate decoder"
                            + " is not in this build or did not load (-Dbranchboot.deflate.library)");
                }
                if (trustKey != null) {
                    LOG.info("blocks are checked against the signed manifest with " + NativeSha256.status());
                }
                LOG.info("serving " + (remote == null ? image : image + " from " + remote.servers()) + " ("
                        + ByteSizes.format(device.size()) + ") as export '" + name + "' on " + ListenAddress.format(bound)
                        + " with " + stack.overlayDescription());
                stop.await();
                LOG.info("stopping: finishing requests in flight");
                server.shutdown();
                server = null;
            } finally {
                if (server != null) {
                    server.shutdown();
                }
                if (readyFile != null) {
                    Files.deleteIfExists(readyFile);
                }
                if (endpoint != null) {
                    endpoint.close();
                }
                if (served) {
                    // Only an export that ran has totals worth a line; a failed start says one thing only.
                    LOG.info("image: " + MetricsEndpoint.summary(stack.imageStatistics()));
                }
            }
        }
        LOG.info("stopped");
        return 0;
    }

    /** Written under a temporary name and renamed, so a script never reads half of it. */
    private static void writeReadyFile(Path file, String content) throws IOException {
        Path absolute = file.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        Path tmp = absolute.resolveSibling("." + absolute.getFileName() + ".tmp");
        Files.writeString(tmp, content + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
