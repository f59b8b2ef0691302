package dev.branchboot.agent.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small in-process HTTP server for unit tests of the range source: serves byte arrays under
 * /images/ with single ranges, strong ETags, If-Match and, for "symlinks", Content-Location; and
 * misbehaves on request in the ways real networks and servers do. Binds 127.0.0.1 only.
 */
final class FakeImageServer implements AutoCloseable {
    /** Faults applied to the next GET requests, one each. */
    enum Fault { STATUS_503, STATUS_429, RESET, FULL_200, WRONG_RANGE, SHORT_BODY, STALL, NOT_FOUND, DRIP }

    /** How often a {@link Fault#DRIP} sends the next byte of its body: far more often than a read timeout. */
    static final Duration DRIP_INTERVAL = Duration.ofMillis(100);

    record File(byte[] data, String etag) {
    }

    private final Map<String, File> files = new ConcurrentHashMap<>();
    private final Map<String, String> links = new ConcurrentHashMap<>();
    final Queue<Fault> faults = new ConcurrentLinkedQueue<>();
    final AtomicLong gets = new AtomicLong();
    final AtomicLong bodyBytes = new AtomicLong();
    final Queue<String> ifMatch = new ConcurrentLinkedQueue<>();
    private volatile boolean contentLocation = true;
    private volatile String locationFolder = "/images/";
    private HttpServer server;
    private int port;

    FakeImageServer() throws IOException {
        start(0);
    }

    private void start(int wanted) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), wanted), 64);
        server.createContext("/images/", this::handle);
        server.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "fake-http");
            t.setDaemon(true);
            return t;
        }));
        server.start();
        port = server.getAddress().getPort();
    }

    String base() {
        return "http://127.0.0.1:" + port + "/images";
    }

    void put(String name, byte[] data, String etag) {
        files.put(name, new File(data, etag));
    }

    /** Deletes {@code name}: it answers 404 from now on. */
    void remove(String name) {
        files.remove(name);
    }

    /** Makes {@code name} a symlink to {@code target}. */
    void link(String name, String target) {
        links.put(name, target);
    }

    /** Whether symlinked names answer with Content-Location (nginx does not). */
    void sendContentLocation(boolean send) {
        contentLocation = send;
    }

    /**
     * The folder Content-Location names revisions in ("/images/" at first): another one is what a
     * branch sends when it passes on the Content-Location of an origin that keeps its images there.
     */
    void contentLocationFolder(String folder) {
        locationFolder = folder;
    }

    void stop() {
        server.stop(0);
    }

    /** Starts again on the same port, as a restarted server would. */
    void restart() throws IOException {
        start(port);
    }

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String name = ex.getRequestURI().getPath().substring("/images/".length());
            String target = links.getOrDefault(name, name);
            File file = files.get(target);
            if (file == null) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            ex.getResponseHeaders().set("ETag", file.etag());
            if (!target.equals(name) && contentLocation) {
                ex.getResponseHeaders().set("Content-Location", locationFolder + target);
            }
            String match = ex.getRequestHeaders().getFirst("If-Match");
            if (match != null) {
                ifMatch.add(match);
                if (!match.equals(file.etag())) {
                    ex.sendResponseHeaders(412, -1);
                    return;
                }
            }
            if (ex.getRequestMethod().equals("HEAD")) {
                ex.getResponseHeaders().set("Content-Length", Long.toString(file.data().length));
                ex.sendResponseHeaders(200, -1);
                return;
            }
            gets.incrementAndGet();
            Fault fault = faults.poll();
            Matcher m = RANGE.matcher(String.valueOf(ex.getRequestHeaders().getFirst("Range")));
            if (!m.matches()) {
                send(ex, 200, file.data(), 0, file.data().length);
                return;
            }
            int from = Integer.parseInt(m.group(1));
            int to = Math.min(Integer.parseInt(m.group(2)), file.data().length - 1);
            int length = to - from + 1;
            if (fault != null) {
                switch (fault) {
                    case NOT_FOUND -> {
                        ex.sendResponseHeaders(404, -1);
                        return;
                    }
                    case STATUS_503, STATUS_429 -> {
                        ex.sendResponseHeaders(fault == Fault.STATUS_503 ? 503 : 429, -1);
                        return;
                    }
                    case RESET -> {
                        return; // closed without a response
                    }
                    case FULL_200 -> {
                        send(ex, 200, file.data(), 0, file.data().length);
                        return;
                    }
                    case WRONG_RANGE -> {
                        int shifted = Math.max(0, from - 1);
                        ex.getResponseHeaders().set("Content-Range", "bytes " + shifted + "-" + (shifted + length - 1) + "/" + file.data().length);
                        send(ex, 206, file.data(), shifted, length);
                        return;
                    }
                    case SHORT_BODY -> {
                        ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + file.data().length);
                        ex.sendResponseHeaders(206, length);
                        OutputStream out = ex.getResponseBody();
                        out.write(file.data(), from, length / 2);
                        out.flush();
                        ex.getHttpContext().getServer(); // then the connection is dropped
                        throw new IOException("dropping the connection mid-body");
                    }
                    case DRIP -> {
                        // Headers as they should be, then the body a byte at a time, until the client hangs up.
                        ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + file.data().length);
                        ex.sendResponseHeaders(206, length);
                        OutputStream out = ex.getResponseBody();
                        for (int i = 0; i < length; i++) {
                            out.write(file.data()[from + i]);
                            out.flush();
                            try {
                                Thread.sleep(DRIP_INTERVAL.toMillis());
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                return;
                            }
                        }
                        return;
                    }
                    case STALL -> {
                        try {
                            // The fault under test: longer than the tests' request timeout (1 s), then no answer at all.
                            Thread.sleep(3000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return;
                    }
                }
            }
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + file.data().length);
            send(ex, 206, file.data(), from, length);
        }
    }

    private void send(HttpExchange ex, int status, byte[] data, int from, int length) throws IOException {
        // Counted before the body goes out: the client may have the whole body (and a test may read
        // the count) before this thread would get to count it afterwards.
        bodyBytes.addAndGet(length);
        ex.sendResponseHeaders(status, length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(data, from, length);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
