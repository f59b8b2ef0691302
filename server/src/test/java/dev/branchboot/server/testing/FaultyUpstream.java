package dev.branchboot.server.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tiny range-capable HTTP upstream on 127.0.0.1 serving one image at {@code /images/NAME}, that
 * can be told to answer the next range requests with one precise fault: for the fault tests that a
 * real nginx cannot be made to produce on demand.
 */
public final class FaultyUpstream implements AutoCloseable {
    /** How a range response goes wrong. */
    public enum Fault {
        /** Right headers, then the connection closes halfway through the body. */
        TRUNCATED,
        /** A Content-Range (and body) one byte off from the range asked for. */
        WRONG_RANGE,
        /** Another ETag than the revision's, as when the image was replaced mid-fill. */
        OTHER_ETAG,
        /** 200 with the whole file, ignoring the Range header. */
        IGNORES_RANGE,
        /** 503 Service Unavailable. */
        UNAVAILABLE
    }

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");
    private static final String ETAG = "\"faulty-1\"";

    private final HttpServer server;
    private final String name;
    private volatile byte[] image;
    /** Revision files by name, when the name is published as revisions ({@link #publish}). */
    private final java.util.Map<String, byte[]> revisions = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile String currentRevision;
    private volatile Fault fault = Fault.TRUNCATED;
    private final AtomicInteger faultsLeft = new AtomicInteger();
    private final AtomicInteger rangeRequests = new AtomicInteger();

    /** Serves {@code image} as {@code /images/name} on a free port. */
    public FaultyUpstream(String name, byte[] image) throws IOException {
        this.name = name;
        this.image = image;
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.createContext("/images/", this::handle);
        server.start();
    }

    /** The base URL of the image folder. */
    public String imagesUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/images";
    }

    /**
     * Points the name at revision file {@code revision} holding {@code bytes}: responses for the
     * name carry {@code Content-Location: /images/REVISION}, and the revision's own name serves it
     * too. The ETag stays the same for every revision, as nginx's does for files of one length
     * written in one second.
     */
    public void publish(String revision, byte[] bytes) {
        revisions.put(revision, bytes);
        image = bytes;
        currentRevision = revision;
    }

    /** The next {@code count} range requests fail with {@code fault}; 0 heals the upstream. */
    public void failNext(Fault fault, int count) {
        this.fault = fault;
        faultsLeft.set(count);
    }

    /** Range requests answered so far, faulty or not. */
    public int rangeRequests() {
        return rangeRequests.get();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            byte[] image = this.image;
            var headers = exchange.getResponseHeaders();
            String revision = currentRevision;
            if (path.equals("/images/" + name) && revision != null) {
                headers.set("Content-Location", "/images/" + revision);
            } else if (path.startsWith("/images/") && revisions.containsKey(path.substring(8))) {
                image = revisions.get(path.substring(8));
            } else if (!path.equals("/images/" + name)) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            headers.set("ETag", ETAG);
            headers.set("Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT");
            headers.set("Accept-Ranges", "bytes");
            if (exchange.getRequestMethod().equals("HEAD")) {
                headers.set("Content-Length", Integer.toString(image.length));
                exchange.sendResponseHeaders(200, -1);
                return;
            }
            Matcher range = RANGE.matcher(String.valueOf(exchange.getRequestHeaders().getFirst("Range")));
            if (!range.matches()) {
                exchange.sendResponseHeaders(200, image.length);
                exchange.getResponseBody().write(image);
                return;
            }
            rangeRequests.incrementAndGet();
            int first = Integer.parseInt(range.group(1));
            int last = Math.min(Integer.parseInt(range.group(2)), image.length - 1);
            Fault now = faultsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0 ? fault : null;
            if (now == Fault.UNAVAILABLE) {
                exchange.sendResponseHeaders(503, -1);
                return;
            }
            if (now == Fault.IGNORES_RANGE) {
                exchange.sendResponseHeaders(200, image.length);
                exchange.getResponseBody().write(image);
                return;
            }
            if (now == Fault.OTHER_ETAG) {
                headers.set("ETag", "\"faulty-2\"");
            }
            if (now == Fault.WRONG_RANGE) {
                first++;
                last = Math.min(last + 1, image.length - 1);
            }
            int length = last - first + 1;
            headers.set("Content-Range", "bytes " + first + "-" + last + "/" + image.length);
            exchange.sendResponseHeaders(206, length);
            OutputStream body = exchange.getResponseBody();
            if (now == Fault.TRUNCATED) {
                body.write(image, first, length / 2);
                body.flush();
                // Closing a fixed-length body early makes the server drop the connection mid-body.
                return;
            }
            body.write(image, first, length);
        } catch (IOException e) {
            // The truncated case ends here: the exchange refuses to finish a short body.
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
