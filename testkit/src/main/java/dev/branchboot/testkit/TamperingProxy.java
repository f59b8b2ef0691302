package dev.branchboot.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An HTTP proxy on 127.0.0.1 in front of an image server that lies the way a compromised cache or
 * a rewriting middlebox would: it keeps every header of the real answer right (status, ETag,
 * Content-Range, Content-Length, Content-Location) and changes the body. Manifests
 * ({@code *.manifest}) pass untouched, so only the image bytes lie.
 */
public final class TamperingProxy implements AutoCloseable {
    /** What the proxy does to an image body. */
    public enum Mode {
        /** Passes every byte through. */
        HONEST,
        /** Flips one bit in the middle of every body of 2 bytes or more. */
        FLIP,
        /** Sends the same range of another file (another revision) under this one's headers. */
        OTHER_REVISION
    }

    private static final List<String> PASSED_REQUEST_HEADERS = List.of("Range", "If-Match", "If-None-Match", "If-Range",
            "If-Modified-Since", "If-Unmodified-Since");
    private static final List<String> PASSED_RESPONSE_HEADERS = List.of("ETag", "Content-Range", "Content-Location",
            "Last-Modified", "Accept-Ranges", "Content-Type");

    private final HttpServer server;
    private final String target;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private volatile Mode mode;
    private volatile String otherRevisionPath;
    private final AtomicLong tampered = new AtomicLong();

    /**
     * A proxy of {@code targetRoot} (such as {@code http://127.0.0.1:8080}; request paths are kept)
     * in {@code mode}.
     */
    public TamperingProxy(String targetRoot, Mode mode) throws IOException {
        this.target = targetRoot.endsWith("/") ? targetRoot.substring(0, targetRoot.length() - 1) : targetRoot;
        this.mode = mode;
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/", this::handle);
        server.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "tampering-proxy");
            t.setDaemon(true);
            return t;
        }));
        server.start();
    }

    /** Changes what the proxy does from the next request on. */
    public void mode(Mode mode) {
        this.mode = mode;
    }

    /** With {@link Mode#OTHER_REVISION}: the path (such as {@code /images/disk@2.raw}) whose bytes are sent instead. */
    public void otherRevision(String path) {
        this.otherRevisionPath = path;
    }

    /** The proxy's root URL, {@code http://127.0.0.1:PORT}. */
    public String rootUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** The proxy's images folder URL, {@code http://127.0.0.1:PORT/images}. */
    public String imagesUrl() {
        return rootUrl() + "/images";
    }

    /** How many bodies were changed so far. */
    public long tamperedBodies() {
        return tampered.get();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getRawPath();
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(target + path)).timeout(Duration.ofSeconds(60))
                    .method(exchange.getRequestMethod(), HttpRequest.BodyPublishers.noBody());
            for (String name : PASSED_REQUEST_HEADERS) {
                String value = exchange.getRequestHeaders().getFirst(name);
                if (value != null) {
                    request.header(name, value);
                }
            }
            HttpResponse<byte[]> response;
            try {
                response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                exchange.sendResponseHeaders(503, -1);
                return;
            }
            byte[] body = response.body();
            boolean image = !path.endsWith(".manifest") && exchange.getRequestMethod().equals("GET");
            Mode now = mode;
            if (image && now == Mode.FLIP && body.length >= 2) {
                body = body.clone();
                body[body.length / 2] ^= 0x10;
                tampered.incrementAndGet();
            } else if (image && now == Mode.OTHER_REVISION && otherRevisionPath != null && body.length > 0) {
                HttpRequest.Builder other = HttpRequest.newBuilder(URI.create(target + otherRevisionPath))
                        .timeout(Duration.ofSeconds(60));
                String range = exchange.getRequestHeaders().getFirst("Range");
                if (range != null) {
                    other.header("Range", range);
                }
                try {
                    byte[] otherBody = client.send(other.build(), HttpResponse.BodyHandlers.ofByteArray()).body();
                    if (otherBody.length == body.length) {
                        body = otherBody;
                        tampered.incrementAndGet();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            for (String name : PASSED_RESPONSE_HEADERS) {
                response.headers().firstValue(name).ifPresent(value -> exchange.getResponseHeaders().set(name, value));
            }
            if (exchange.getRequestMethod().equals("HEAD")) {
                response.headers().firstValue("Content-Length")
                        .ifPresent(value -> exchange.getResponseHeaders().set("Content-Length", value));
                exchange.sendResponseHeaders(response.statusCode(), -1);
                return;
            }
            exchange.sendResponseHeaders(response.statusCode(), body.length == 0 ? -1 : body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
