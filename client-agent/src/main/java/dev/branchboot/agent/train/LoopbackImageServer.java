package dev.branchboot.agent.train;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The files of one folder over HTTP on 127.0.0.1 (an image, its manifest), with just what the
 * agent's reader asks of a server:
 * {@code HEAD} with length and a strong ETag, {@code GET} of one byte range answered {@code 206},
 * and {@code If-Match} honoured. It stands in for a branch in a training run, so the archive holds
 * the HTTP reader's classes too; it is not a server for anything else.
 */
final class LoopbackImageServer implements Closeable {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");
    /** Far more than the agent asks for at once; a range is read into memory whole. */
    private static final long MAX_RANGE = 64L << 20;

    private final HttpServer server;
    private final ExecutorService executor;
    private final Path folder;
    private final java.util.concurrent.atomic.AtomicLong rangesServed = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong bytesServed = new java.util.concurrent.atomic.AtomicLong();

    private LoopbackImageServer(HttpServer server, ExecutorService executor, Path folder) {
        this.server = server;
        this.executor = executor;
        this.folder = folder;
    }

    /** Serves the files directly in {@code folder} as {@code /NAME} on an ephemeral port of 127.0.0.1. */
    static LoopbackImageServer start(Path folder) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        ExecutorService executor = Executors.newFixedThreadPool(4, task -> {
            Thread thread = new Thread(task, "training-http");
            thread.setDaemon(true);
            return thread;
        });
        LoopbackImageServer images = new LoopbackImageServer(server, executor, folder);
        server.createContext("/", images::handle);
        server.setExecutor(executor);
        server.start();
        return images;
    }

    /** The folder URL to hand the agent as {@code --server}. */
    String folderUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/";
    }

    /** Range requests answered with {@code 206} so far. */
    long rangesServed() {
        return rangesServed.get();
    }

    /** The bytes of those answers' bodies. */
    long bytesServed() {
        return bytesServed.get();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            String name = exchange.getRequestURI().getPath().substring(1);
            Path file = name.isEmpty() || name.contains("/") ? null : folder.resolve(name);
            if (file == null || !Files.isRegularFile(file)) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            long size = Files.size(file);
            String etag = "\"" + Long.toHexString(size) + "-" + Long.toHexString(Files.getLastModifiedTime(file).toMillis()) + "\"";
            String ifMatch = exchange.getRequestHeaders().getFirst("If-Match");
            if (ifMatch != null && !ifMatch.equals(etag)) {
                exchange.sendResponseHeaders(412, -1);
                return;
            }
            exchange.getResponseHeaders().set("ETag", etag);
            exchange.getResponseHeaders().set("Accept-Ranges", "bytes");
            if (method.equals("HEAD")) {
                exchange.getResponseHeaders().set("Content-Length", Long.toString(size));
                exchange.sendResponseHeaders(200, -1);
                return;
            }
            String range = exchange.getRequestHeaders().getFirst("Range");
            Matcher matcher = range == null ? null : RANGE.matcher(range);
            if (!method.equals("GET") || matcher == null || !matcher.matches()) {
                exchange.sendResponseHeaders(method.equals("GET") ? 416 : 405, -1);
                return;
            }
            long first = Long.parseLong(matcher.group(1));
            long last = Math.min(Long.parseLong(matcher.group(2)), size - 1);
            if (first > last || last - first >= MAX_RANGE) {
                exchange.getResponseHeaders().set("Content-Range", "bytes */" + size);
                exchange.sendResponseHeaders(416, -1);
                return;
            }
            ByteBuffer body = ByteBuffer.allocate((int) (last - first + 1));
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                while (body.hasRemaining() && channel.read(body, first + body.position()) > 0) {
                    // until the range is read
                }
            }
            exchange.getResponseHeaders().set("Content-Range", "bytes " + first + "-" + last + "/" + size);
            exchange.sendResponseHeaders(206, body.capacity());
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body.array());
            }
            rangesServed.incrementAndGet();
            bytesServed.addAndGet(body.capacity());
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
