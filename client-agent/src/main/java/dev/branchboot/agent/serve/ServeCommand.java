package dev.branchboot.agent.serve;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.ImageBlockDevice;
import dev.branchboot.agent.cli.ByteSizes;
import dev.branchboot.agent.cli.Logging;
import dev.branchboot.agent.nbd.NbdExport;
import dev.branchboot.agent.nbd.NbdServer;
import dev.branchboot.agent.overlay.CowOverlay;
import dev.branchboot.qcow2.DiskImages;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code serve --image PATH ...}: exports an image over NBD through a copy-on-write overlay. The
 * stack is {@link ImageBlockDevice} → {@link CowOverlay} → {@link NbdServer}; the socket (and the
 * ready file) appear only once the export can be served, and SIGTERM drains in-flight requests,
 * flushes a file overlay and exits 0.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Exports an image over NBD, with writes kept in a copy-on-write overlay.",
                "The image file is never written. The export answers to its name and to the default (empty) name."})
public final class ServeCommand implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger(ServeCommand.class.getName());

    @Spec
    CommandSpec spec;

    @Option(names = "--image", required = true, paramLabel = "PATH", description = "The image file (QCOW2 or raw).")
    Path image;

    @Option(names = "--listen", paramLabel = "ADDRESS", converter = ListenAddress.Converter.class,
            description = "unix:PATH or tcp:HOST:PORT (default: ${DEFAULT-VALUE}).", defaultValue = "unix:/run/branchboot/nbd.sock")
    ListenAddress listen;

    @Option(names = "--export-name", paramLabel = "NAME", description = "The export name (default: the image's file name).")
    String exportName;

    @Option(names = "--cow", paramLabel = "OVERLAY", converter = CowSpec.Converter.class, defaultValue = "ram:1G",
            description = "Where writes go: none (read-only export), ram[:SIZE] or file:PATH (default: ${DEFAULT-VALUE}).")
    CowSpec cow;

    @Option(names = "--cow-reset", description = "Discard what the overlay file holds and start over.")
    boolean cowReset;

    @Option(names = "--cache-size", paramLabel = "SIZE", converter = ByteSizes.Converter.class, defaultValue = "64M",
            description = "Memory for decompressed clusters (default: ${DEFAULT-VALUE}); L2 tables get a quarter of it, at most 32M.")
    long cacheSize;

    @Option(names = "--ready-file", paramLabel = "PATH", description = "Write the listen address here once the export is ready.")
    Path readyFile;

    @Option(names = {"-v", "--verbose"}, description = "Log every connection and refused request.")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        if (cowReset && cow.kind() != CowSpec.Kind.FILE) {
            throw new ParameterException(spec.commandLine(), "--cow-reset needs --cow file:PATH");
        }
        if (cacheSize < 0 || cacheSize > (64L << 30)) {
            throw new ParameterException(spec.commandLine(), "--cache-size must be between 0 and 64G");
        }
        Logging.configure(verbose);
        String name = exportName != null ? exportName : image.getFileName().toString();
        ExecutorService decompress = Executors.newFixedThreadPool(Math.max(1, Runtime.getRuntime().availableProcessors()), r -> {
            Thread t = new Thread(r, "decompress");
            t.setDaemon(true);
            return t;
        });
        long l2 = Math.min(32L << 20, Math.max(1L << 20, cacheSize / 4));
        ImageOptions options = ImageOptions.DEFAULTS.withCaches(l2, cacheSize).withDecompressExecutor(decompress);
        BlockDevice device = null;
        NbdServer server = null;
        try {
            VirtualDisk disk = DiskImages.open(image, options);
            device = new ImageBlockDevice(disk);
            String overlay = "no overlay (read-only)";
            switch (cow.kind()) {
                case RAM -> {
                    CowOverlay o = CowOverlay.inRam(device, ramOverlayBytes(l2));
                    device = o;
                    overlay = o.describe();
                }
                case FILE -> {
                    CowOverlay o = CowOverlay.inFile(device, cow.file(), ImageRevision.of(disk), cowReset);
                    device = o;
                    overlay = o.describe();
                }
                case NONE -> {
                }
            }
            NbdServer.Limits limits = NbdServer.Limits.forHeap(Runtime.getRuntime().maxMemory());
            server = new NbdServer(new NbdExport(name, device), limits);
            CountDownLatch stop = new CountDownLatch(1);
            Signals.onTermination(stop::countDown);
            SocketAddress bound = server.listen(listen.address());
            if (readyFile != null) {
                writeReadyFile(readyFile, ListenAddress.format(bound));
            }
            LOG.info("serving " + image + " (" + ByteSizes.format(device.size()) + ") as export '" + name + "' on "
                    + ListenAddress.format(bound) + " with " + overlay);
            stop.await();
            LOG.info("stopping: finishing requests in flight");
            server.shutdown();
            server = null;
            device.close();
            device = null;
            LOG.info("stopped");
            return 0;
        } finally {
            if (server != null) {
                server.shutdown();
            }
            if (device != null) {
                try {
                    device.close();
                } catch (IOException e) {
                    LOG.warning("closing " + image + " failed: " + e.getMessage());
                }
            }
            if (readyFile != null) {
                Files.deleteIfExists(readyFile);
            }
            decompress.shutdownNow();
        }
    }

    /**
     * The RAM overlay's size, clamped to what the heap can hold next to the caches and request
     * buffers: a full overlay answers ENOSPC, an overgrown heap would kill the JVM and the PC's
     * root filesystem with it.
     */
    private long ramOverlayBytes(long l2Bytes) {
        long heap = Runtime.getRuntime().maxMemory();
        long reserved = cacheSize + l2Bytes + NbdServer.Limits.forHeap(heap).bufferBytes() + (32L << 20);
        long fits = Math.max(0, heap - reserved) / 10 * 9; // leave the garbage collector room to work
        if (cow.ramBytes() <= fits) {
            return cow.ramBytes();
        }
        if (fits < (16L << 20)) {
            throw new IllegalArgumentException("the JVM heap (" + ByteSizes.format(heap) + ") is too small for a RAM overlay next to "
                    + ByteSizes.format(reserved) + " of caches and buffers; raise -Xmx, lower --cache-size, or use --cow file:PATH");
        }
        LOG.warning("RAM overlay limited to " + ByteSizes.format(fits) + " instead of " + ByteSizes.format(cow.ramBytes())
                + ": that is what the JVM heap (" + ByteSizes.format(heap) + ") holds next to the caches; raise -Xmx for more");
        return fits;
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
