package dev.branchboot.agent.serve;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.ImageBlockDevice;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.agent.cli.UsageException;
import dev.branchboot.agent.http.FetchListener;
import dev.branchboot.agent.http.HttpSettings;
import dev.branchboot.agent.http.RemoteImages;
import dev.branchboot.agent.nbd.NbdServer;
import dev.branchboot.agent.overlay.CowOverlay;
import dev.branchboot.agent.trace.ReadTrace;
import dev.branchboot.agent.trace.TracingBlockDevice;
import dev.branchboot.agent.units.ByteSizes;
import dev.branchboot.integrity.TrustKey;
import dev.branchboot.qcow2.ImageFormat;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.ReadStatistics;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;

/**
 * The layers an export serves, built in one place and in order from the options, like nbdkit's
 * plugin and filter list: the image ({@link ImageBlockDevice} over a local file or the servers'
 * {@link RemoteImages}), the copy-on-write overlay ({@link CowOverlay}: none, RAM or a file), and
 * the read trace ({@link TracingBlockDevice}, with {@code --trace}). It owns everything it opened
 * (the decompression threads, the servers' connections, the trace file) and {@link #close()}
 * closes it all in reverse order; a stack that fails half built closes what it had opened.
 */
final class ExportStack implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ExportStack.class.getName());

    /** What the stack is built from: the serve command's options. */
    record Options(String image, List<String> servers, ImageFormat format, HttpSettings http, TrustKey trustKey,
                   CowSpec cow, boolean cowReset, long cacheSize, Path traceFile) {
    }

    private final ExecutorService decompress;
    private final ReadStatistics imageStatistics = new ReadStatistics();
    private ReadTrace trace;
    private RemoteImages remote;
    private BlockDevice device;
    private String overlay = "no overlay (read-only)";

    private ExportStack() {
        decompress = Executors.newFixedThreadPool(Math.max(1, Runtime.getRuntime().availableProcessors()), r -> {
            Thread t = new Thread(r, "decompress");
            t.setDaemon(true);
            return t;
        });
    }

    /** Opens the image and builds the layers above it. */
    static ExportStack open(Options options) throws IOException, UsageException {
        ExportStack stack = new ExportStack();
        try {
            stack.build(options);
            return stack;
        } catch (Throwable e) {
            try {
                stack.close();
            } catch (IOException closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
    }

    private void build(Options options) throws IOException, UsageException {
        long l2 = Math.min(32L << 20, Math.max(1L << 20, options.cacheSize() / 4));
        ImageOptions imageOptions = ImageOptions.DEFAULTS.withCaches(l2, options.cacheSize()).withDecompressExecutor(decompress)
                .withStatistics(imageStatistics);
        if (options.traceFile() != null) {
            trace = ReadTrace.start(options.traceFile());
        }
        ImageArgument.Opened opened = ImageArgument.open(options.image(), options.servers(), options.format(), options.http(),
                imageOptions, trace != null ? trace : FetchListener.NONE, options.trustKey());
        remote = opened.remote();
        VirtualDisk disk = opened.disk();
        device = new ImageBlockDevice(disk);
        switch (options.cow().kind()) {
            case RAM -> {
                CowOverlay ram = CowOverlay.inRam(device, ramOverlayBytes(options, l2));
                device = ram;
                overlay = ram.describe();
            }
            case FILE -> {
                CowOverlay file = CowOverlay.inFile(device, options.cow().file(),
                        remote != null ? remote.revision() : ImageRevision.of(disk), options.cowReset());
                device = file;
                overlay = file.describe();
            }
            case NONE -> {
            }
        }
        if (trace != null) {
            trace.describe(options.image(), device.size());
            device = new TracingBlockDevice(device, trace);
        }
    }

    /** The top of the stack: what the NBD server exports. */
    BlockDevice device() {
        return device;
    }

    /** The servers the image is read from, or {@code null} for a local file. */
    RemoteImages remote() {
        return remote;
    }

    /** What the image reader counted (clusters decompressed, cache hits). */
    ReadStatistics imageStatistics() {
        return imageStatistics;
    }

    /** The overlay, for the log: "no overlay (read-only)", or its kind and size. */
    String overlayDescription() {
        return overlay;
    }

    /**
     * Closes the layers from the top (a file overlay writes its allocation map), then the servers'
     * connections after logging their totals, the trace, and the decompression threads.
     *
     * @throws IOException when the top layer could not be closed cleanly (for a file overlay: its
     *                     writes may not all be durable); everything else is closed anyway
     */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        try {
            if (device != null) {
                device.close();
            }
        } catch (IOException e) {
            failure = e;
        } finally {
            device = null;
            if (remote != null) {
                LOG.info("HTTP: " + remote.stats().summary());
                remote.close();
                remote = null;
            }
            if (trace != null) {
                trace.close();
                trace = null;
            }
            decompress.shutdownNow();
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * The RAM overlay's size, clamped to what the heap can hold next to the caches and request
     * buffers: a full overlay answers ENOSPC, an overgrown heap would kill the JVM and the PC's
     * root filesystem with it.
     */
    private static long ramOverlayBytes(Options options, long l2Bytes) {
        long wanted = options.cow().ramBytes();
        long heap = Runtime.getRuntime().maxMemory();
        long reserved = options.cacheSize() + l2Bytes + NbdServer.Limits.forHeap(heap).bufferBytes() + (32L << 20);
        long fits = Math.max(0, heap - reserved) / 10 * 9; // leave the garbage collector room to work
        if (wanted <= fits) {
            return wanted;
        }
        if (fits < (16L << 20)) {
            throw new IllegalArgumentException("the JVM heap (" + ByteSizes.format(heap) + ") is too small for a RAM overlay next to "
                    + ByteSizes.format(reserved) + " of caches and buffers; raise -Xmx, lower --cache-size, or use --cow file:PATH");
        }
        LOG.warning("RAM overlay limited to " + ByteSizes.format(fits) + " instead of " + ByteSizes.format(wanted)
                + ": that is what the JVM heap (" + ByteSizes.format(heap) + ") holds next to the caches; raise -Xmx for more");
        return fits;
    }
}
