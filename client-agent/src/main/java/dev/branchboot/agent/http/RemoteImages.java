package dev.branchboot.agent.http;

import dev.branchboot.integrity.TrustKey;
import dev.branchboot.qcow2.ByteSource;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The agent's connection to its image servers: the {@link HttpTransport} every file of a backing
 * chain shares (one HTTP/1.1 client with kept-alive connections, the {@link ServerPool} with its
 * failover state, the counters), the read-ahead threads, the trust key, and the revisions pinned so
 * far. {@link #open} gives the {@link dev.branchboot.qcow2.ByteSource} of an image file, which
 * {@code DiskImages.open} reads like a local one.
 */
public final class RemoteImages implements AutoCloseable {
    /** The client, server pool, settings, counters and listener every source of the chain shares. */
    private final HttpTransport transport;
    private final List<String> pins = new ArrayList<>();
    /** Fetches read-ahead windows in the background, a few at once on their own connections. */
    private final ThreadPoolExecutor readAhead;
    /** The key every image's manifest must be signed by; {@code null}: images are read unchecked. */
    private final TrustKey trustKey;

    private RemoteImages(List<URI> servers, HttpSettings settings, FetchListener listener, TrustKey trustKey) {
        this.trustKey = trustKey;
        this.transport = HttpTransport.connect(servers, settings, listener);
        AtomicInteger n = new AtomicInteger();
        this.readAhead = new ThreadPoolExecutor(READ_AHEAD_THREADS, READ_AHEAD_THREADS, 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "read-ahead-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        readAhead.allowCoreThreadTimeOut(true);
    }

    private static final int READ_AHEAD_THREADS = 4;

    /**
     * Servers given as base URLs of their images folders ({@code http://branch:8080/images}), in
     * order of preference.
     *
     * @throws IllegalArgumentException naming a URL that is not http(s)
     */
    public static RemoteImages connect(List<String> serverUrls, HttpSettings settings) {
        return connect(serverUrls, settings, FetchListener.NONE);
    }

    /** As {@link #connect(List, HttpSettings)}, telling {@code listener} of every range fetched. */
    public static RemoteImages connect(List<String> serverUrls, HttpSettings settings, FetchListener listener) {
        return connect(serverUrls, settings, listener, null);
    }

    /**
     * As {@link #connect(List, HttpSettings, FetchListener)}; with a {@code trustKey}, every image
     * opened must have a manifest signed by it, and every byte read is checked against that
     * manifest first (see {@link HttpRangeSource}).
     */
    public static RemoteImages connect(List<String> serverUrls, HttpSettings settings, FetchListener listener,
            TrustKey trustKey) {
        List<URI> bases = new ArrayList<>();
        for (String url : serverUrls) {
            bases.add(Names.base(url));
        }
        return new RemoteImages(bases, settings, listener, trustKey);
    }

    /**
     * Whether image {@code name} lies inside the servers' images folder: no {@code ..} or {@code .}
     * segment leads out of it (backing-file names are held to the same rule).
     */
    public static boolean staysInFolder(String name) {
        URI base = URI.create("http://server/images/");
        return !name.isEmpty() && Names.underBase(base, base.resolve(Names.encode(name))) != null;
    }

    /** True when {@code image} is an http:// or https:// URL rather than a file name. */
    public static boolean isUrl(String image) {
        String lower = image.toLowerCase(java.util.Locale.ROOT);
        return lower.startsWith("http://") || lower.startsWith("https://");
    }

    /** An image URL split into the server's folder URL and the image's name in it. */
    public record Location(String server, String name) {
    }

    /** Splits {@code http://host/images/win11.qcow2} into {@code http://host/images/} and {@code win11.qcow2}. */
    public static Location split(String url) {
        URI uri = URI.create(url);
        String path = uri.getRawPath();
        int slash = path == null ? -1 : path.lastIndexOf('/');
        if (slash < 0 || slash == path.length() - 1) {
            throw new IllegalArgumentException("'" + url + "' does not name a file");
        }
        URI base = Names.base(uri.resolve(path.substring(0, slash + 1)).toString());
        return new Location(base.toString(), Names.underBase(base, uri));
    }

    /**
     * Opens the image file {@code name} (relative to the servers' folder), pins its revision, and
     * returns it with sequential read-ahead on top.
     */
    public ByteSource open(String name) throws IOException {
        HttpRangeSource source = HttpRangeSource.open(transport, name, trustKey, this::open);
        synchronized (pins) {
            // The manifest's content digest, when there is one, is the revision's identity: an
            // overlay is never attached to a file that kept its size and time but not its bytes.
            // A Content-Location that names no file in the folder is part of the revision's
            // identity (the ETag may be shared); where it does name one, path() is that name.
            pins.add(source.path() + " " + source.etag() + " " + source.size()
                    + (source.verifiedRevision() == null ? "" : " " + source.verifiedRevision())
                    + (source.pinnedLocation() == null ? "" : " at " + source.pinnedLocation()));
        }
        transport.pool().probeWith(transport.preferredUrl(source.path()), source.etag());
        return new ReadAheadSource(source, transport.settings().readAheadMax(), transport.stats(), readAhead);
    }

    /**
     * The revision of every file opened so far (name, ETag and length as pinned), as
     * "sha256:HEX": what a file overlay records so it is never attached to another revision.
     */
    public String revision() {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        synchronized (pins) {
            for (String pin : pins) {
                digest.update(pin.getBytes(StandardCharsets.UTF_8));
                digest.update((byte) '\n');
            }
        }
        return "sha256:" + HexFormat.of().formatHex(digest.digest()).substring(0, 32);
    }

    /** The traffic counters. */
    public HttpStats stats() {
        return transport.stats();
    }

    /** The servers, as configured. */
    public List<String> servers() {
        return transport.pool().servers().stream().map(Object::toString).toList();
    }

    /** Stops the background probes; open sources must not be read afterwards. */
    @Override
    public void close() {
        readAhead.shutdown();
        transport.close();
    }
}
