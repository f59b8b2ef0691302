package dev.branchboot.agent.cli;

import dev.branchboot.agent.http.FetchListener;
import dev.branchboot.agent.http.HttpSettings;
import dev.branchboot.agent.http.RemoteImages;
import dev.branchboot.integrity.TrustKey;
import dev.branchboot.qcow2.ByteSource;
import dev.branchboot.qcow2.DiskImages;
import dev.branchboot.qcow2.ImageFormat;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The image a command reads, shared by every command that opens one: a local file, an http(s)
 * URL, or a name on image servers ({@code --server URL ... --image NAME}), with the HTTP options.
 */
public final class ImageArgument {
    /** Held so the level set on it is not lost when the logger is garbage collected. */
    private static final java.util.logging.Logger HTTP_LOG = java.util.logging.Logger.getLogger("dev.branchboot.agent.http");

    private ImageArgument() {
    }

    /** An open image and, when it is read over HTTP, its connection to the servers. */
    public record Opened(VirtualDisk disk, RemoteImages remote, String label) implements AutoCloseable {
        /** Closes the disk, then the server connection. */
        @Override
        public void close() throws IOException {
            try {
                disk.close();
            } finally {
                if (remote != null) {
                    remote.close();
                }
            }
        }
    }

    /**
     * The retry deadline of the commands a person runs at a terminal ({@code info}, {@code cat}):
     * long enough to ride out a server's restart, short enough that a typo in a URL is an answer,
     * not a five-minute wait. A root disk ({@code serve}) keeps {@link HttpSettings#DEFAULTS}' 5m.
     */
    public static final Duration INTERACTIVE_RETRY_DEADLINE = Duration.ofSeconds(20);

    /** Declares IMAGE (an optional first positional), {@code --format} and the HTTP options on {@code spec}. */
    public static CommandSpec declare(CommandSpec spec) {
        return declareHttp(spec.optionalPositional("IMAGE", "The image: a file, or an http(s) URL.")
                .option("--image", "NAME", "With --server: the image's name in the servers' folder.")
                .option("-f, --format", "FORMAT", "Format of IMAGE: qcow2 or raw (default: qcow2). The format is never guessed, "
                        + "so a damaged QCOW2 header is an error, not a raw disk."), INTERACTIVE_RETRY_DEADLINE);
    }

    /** Declares {@code --server}, {@code --retry-deadline} (a root disk's 5m) and {@code --request-timeout}. */
    public static CommandSpec declareHttp(CommandSpec spec) {
        return declareHttp(spec, HttpSettings.DEFAULTS.retryDeadline());
    }

    private static CommandSpec declareHttp(CommandSpec spec, Duration retryDeadline) {
        return spec.repeatableOption("--server", "URL", "Base URL of an image servers' folder (http://branch:8080/images); "
                        + "the image is read from URL/NAME. Several servers are used in the order given, failing over on errors.")
                .option("--retry-deadline", "DURATION", "How long a read retries network faults before it fails; no retry "
                        + "starts after it, so a read ends within it plus one --request-timeout (default: "
                        + (retryDeadline.toSeconds() % 60 == 0 ? retryDeadline.toMinutes() + "m" : retryDeadline.toSeconds() + "s") + "; e.g. 30s, 10m).")
                .option("--request-timeout", "DURATION", "The longest one HTTP request may take, by the clock, from connecting "
                        + "to the last byte of its body (a server that trickles its answer is cut off too), before it is "
                        + "retried (default: 30s).")
                .option("--read-ahead", "SIZE", "The largest read-ahead for sequential reads over HTTP (default: 4M; 0 turns "
                        + "it off). Random reads are never read ahead.")
                .option("--trust-key", "PUB.pem", "Use only bytes the image's signed manifest (NAME.manifest on the servers) "
                        + "vouches for: an Ed25519 public key. A server whose bytes do not match is a faulty server. A manifest "
                        + "signed for another image, or published before one accepted earlier, is refused.")
                .option("--trust-state", "FILE", "With --trust-key: remember in FILE the newest revision accepted per image "
                        + "name, so that a later run refuses an older one (default: remembered while this process runs).");
    }

    /** The HTTP settings from the command line of {@code serve} (a root disk: 5m of retries by default). */
    public static HttpSettings httpSettings(ParsedArguments args) throws UsageException {
        return httpSettings(args, HttpSettings.DEFAULTS.retryDeadline());
    }

    private static HttpSettings httpSettings(ParsedArguments args, Duration defaultDeadline) throws UsageException {
        HttpSettings d = HttpSettings.DEFAULTS;
        Duration request = args.duration("--request-timeout", d.requestTimeout(), Duration.ofMillis(100), Duration.ofHours(1));
        Duration deadline = args.duration("--retry-deadline", defaultDeadline, Duration.ZERO, Duration.ofDays(7));
        long readAhead = args.size("--read-ahead", d.readAheadMax(), 0, 64L << 20);
        return d.withTimeouts(request, deadline).withReadAheadMax((int) readAhead);
    }

    /** Opens the image named on the command line, with its backing chain. */
    public static Opened open(ParsedArguments args, ImageOptions options) throws IOException, UsageException {
        String image = args.positional(0);
        String name = args.string("--image", null);
        List<String> servers = args.strings("--server");
        if (image != null && name != null) {
            throw new UsageException("Give IMAGE or --image NAME, not both");
        }
        if (image == null && name == null) {
            throw new UsageException("Missing required parameter: 'IMAGE' (or --server URL --image NAME)");
        }
        ImageFormat format = args.choice("--format", ImageFormat.class, ImageFormat.QCOW2);
        // info and cat print results, not a log: only warnings (a failover, a retry) go to stderr.
        Logging.configure(false);
        HTTP_LOG.setLevel(java.util.logging.Level.WARNING);
        return open(image != null ? image : name, servers, format, httpSettings(args, INTERACTIVE_RETRY_DEADLINE), options,
                FetchListener.NONE, trustKey(args));
    }

    /**
     * Opens {@code image}: a name on {@code servers} when any are given, an http(s) URL, or a local
     * file.
     */
    public static Opened open(String image, List<String> servers, ImageFormat format, HttpSettings settings, ImageOptions options)
            throws IOException, UsageException {
        return open(image, servers, format, settings, options, FetchListener.NONE, null);
    }

    /**
     * The public key of {@code --trust-key}, or {@code null} when none is given; its Java key is made
     * in the background (see {@link TrustKey}).
     */
    public static TrustKey trustKey(ParsedArguments args) throws UsageException, IOException {
        Path file = args.path("--trust-key");
        Path state = args.path("--trust-state");
        if (file == null) {
            if (state != null) {
                throw new UsageException("--trust-state remembers what --trust-key accepted: give --trust-key too");
            }
            return null;
        }
        if (!java.nio.file.Files.isReadable(file)) {
            throw new UsageException("--trust-key: cannot read '" + file + "'");
        }
        TrustKey key = TrustKey.read(file);
        if (state == null) {
            return key;
        }
        if (java.nio.file.Files.isDirectory(state)) {
            throw new UsageException("--trust-state: '" + state + "' is a directory; give a file name");
        }
        try {
            return key.rememberingIn(state);
        } catch (IOException e) {
            throw new UsageException("--trust-state: " + e.getMessage());
        }
    }

    /**
     * As {@link #open(String, List, ImageFormat, HttpSettings, ImageOptions)}, telling
     * {@code listener} of every HTTP fetch and, with a {@code trustKey}, using only bytes the
     * image's signed manifest vouches for.
     */
    public static Opened open(String image, List<String> servers, ImageFormat format, HttpSettings settings, ImageOptions options,
            FetchListener listener, TrustKey trustKey) throws IOException, UsageException {
        if (image.isEmpty() || image.indexOf('\0') >= 0) {
            throw new UsageException("the image must be a file name, a URL or a name on the servers");
        }
        String name = image;
        List<String> urls = servers;
        if (servers.isEmpty()) {
            if (!RemoteImages.isUrl(image)) {
                if (trustKey != null) {
                    throw new UsageException("--trust-key checks images read from servers; to check a local file against its "
                            + "manifest, run: manifest " + image + " --trust-key PUB.pem");
                }
                return new Opened(DiskImages.open(Path.of(image), format, options), null, image);
            }
            try {
                RemoteImages.Location location = RemoteImages.split(image);
                urls = List.of(location.server());
                name = location.name();
            } catch (IllegalArgumentException e) {
                throw new UsageException("bad image URL: " + e.getMessage());
            }
        } else if (RemoteImages.isUrl(image)) {
            throw new UsageException("with --server, the image is a name in the servers' folder, not a URL: '" + image + "'");
        } else if (!RemoteImages.staysInFolder(image)) {
            throw new UsageException("the image name '" + image + "' leads out of the servers' images folder");
        }
        RemoteImages remote;
        try {
            remote = RemoteImages.connect(urls, settings, listener, trustKey);
        } catch (IllegalArgumentException e) {
            throw new UsageException("bad --server: " + e.getMessage());
        }
        try {
            ByteSource source = remote.open(name);
            return new Opened(DiskImages.open(source, format, options), remote, name);
        } catch (IOException | RuntimeException e) {
            remote.close();
            throw e;
        }
    }
}
