package dev.branchboot.testkit;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A real nginx serving a directory under {@code /images/} on 127.0.0.1, from a configuration
 * generated in its own folder: the HTTP origin of the acceptance tests. It runs as one process (no
 * master), so {@link #kill()} stops it at once as in a crash, and it can be started again on the
 * same port. Its access log records the method, URI, status and body bytes of every response, so a
 * test can count requests and the bytes sent. With {@link #startTls} it speaks https only.
 */
public final class Nginx implements AutoCloseable {
    private final Path dir;
    private final Path root;
    private final int port;
    private String limitRate = "0";
    /** The certificate and key for https, or null for plain http. */
    private Path tlsCertificate;
    private Path tlsKey;
    private Process process;

    private Nginx(Path dir, Path root, int port) {
        this.dir = dir;
        this.root = root;
        this.port = port;
    }

    /** Starts nginx on a free port serving {@code root}, its files kept in {@code dir}. */
    public static Nginx start(Path dir, Path root) throws IOException, InterruptedException {
        return startThrottled(dir, root, "0");
    }

    /** As {@link #start(Path, Path)}, each response throttled to {@code rate} (nginx syntax, such as {@code 2m}). */
    public static Nginx startThrottled(Path dir, Path root, String rate) throws IOException, InterruptedException {
        Nginx nginx = new Nginx(Files.createDirectories(dir), root, freePort());
        nginx.limitRate(rate).start();
        return nginx;
    }

    /**
     * As {@link #start(Path, Path)}, but https only, with the PEM {@code certificate} (chain) and
     * {@code key}; {@link #rootUrl()} then names the host {@code localhost}.
     */
    public static Nginx startTls(Path dir, Path root, Path certificate, Path key) throws IOException, InterruptedException {
        Nginx nginx = new Nginx(Files.createDirectories(dir), root, freePort());
        nginx.tlsCertificate = certificate;
        nginx.tlsKey = key;
        nginx.start();
        return nginx;
    }

    /** A loopback port nobody listens on right now (for nginx, or any other server a test starts). */
    public static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    /**
     * Throttles each response to {@code rate} (nginx syntax, such as {@code 2m}) from the next start
     * on. (The configuration caps one sendfile call at 128 KiB: nginx checks the rate between calls,
     * and its default 2 MiB chunk would send a small file at once.)
     */
    public Nginx limitRate(String rate) {
        this.limitRate = rate;
        return this;
    }

    /** (Re)starts nginx on its port and waits until it accepts connections. */
    public void start() throws IOException, InterruptedException {
        Path config = dir.resolve("nginx.conf");
        Files.writeString(config, """
                daemon off;
                master_process off;
                pid %1$s/nginx.pid;
                error_log %1$s/error.log;
                events {}
                http {
                    log_format bytes '$request_method $uri $status $body_bytes_sent';
                    access_log %1$s/access.log bytes;
                    sendfile on;
                    sendfile_max_chunk 128k;
                    keepalive_requests 1000000;
                    client_body_temp_path %1$s/body;
                    proxy_temp_path %1$s/proxy;
                    fastcgi_temp_path %1$s/fastcgi;
                    uwsgi_temp_path %1$s/uwsgi;
                    scgi_temp_path %1$s/scgi;
                    server {
                        listen 127.0.0.1:%2$d%5$s;
                        limit_rate %4$s;
                        location /images/ { alias %3$s/; }
                    }
                }
                """.formatted(dir, port, root, limitRate, tlsCertificate == null ? ""
                        : " ssl;\n        ssl_certificate " + tlsCertificate + ";\n        ssl_certificate_key " + tlsKey));
        process = new ProcessBuilder("nginx", "-c", config.toString(), "-e", dir.resolve("error.log").toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("stdout.log").toFile()))
                .start();
        for (int attempt = 0; ; attempt++) {
            try {
                new Socket(InetAddress.getLoopbackAddress(), port).close();
                return;
            } catch (ConnectException e) {
                if (!process.isAlive() || attempt > 400) {
                    throw new IllegalStateException("nginx did not start: " + Files.readString(dir.resolve("error.log")), e);
                }
                Thread.sleep(25);
            }
        }
    }

    /** Stops nginx gracefully (the port refuses connections afterwards). */
    public void stop() throws InterruptedException {
        if (process != null) {
            process.destroy();
            process.waitFor(10, TimeUnit.SECONDS);
            process = null;
        }
    }

    /** SIGKILL: connections die mid-response, as in a crash. */
    public void kill() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor();
            process = null;
        }
    }

    /** {@code http://127.0.0.1:PORT}, or with TLS {@code https://localhost:PORT}. */
    public String rootUrl() {
        return tlsCertificate == null ? "http://127.0.0.1:" + port : "https://localhost:" + port;
    }

    /** The port nginx listens on, on 127.0.0.1. */
    public int port() {
        return port;
    }

    /** The base URL of the image folder, {@code http://127.0.0.1:PORT/images}. */
    public String imagesUrl() {
        return rootUrl() + "/images";
    }

    /** Responses logged so far. */
    public long requests() throws IOException {
        Path log = accessLog();
        return Files.exists(log) ? Files.readAllLines(log).size() : 0;
    }

    /** GET responses logged so far: reads, without the HEADs that clients probe with. */
    public long gets() throws IOException {
        Path log = accessLog();
        return Files.exists(log) ? Files.readAllLines(log).stream().filter(line -> line.startsWith("GET ")).count() : 0;
    }

    /** Body bytes sent so far, for every URI. */
    public long bytesSent() throws IOException {
        return bytesSent(null);
    }

    /** Body bytes logged as sent for {@code uri} (such as {@code /images/disk.raw}), or for all when null. */
    public long bytesSent(String uri) throws IOException {
        Path log = accessLog();
        if (!Files.exists(log)) {
            return 0;
        }
        long total = 0;
        for (String line : Files.readAllLines(log)) {
            String[] fields = line.trim().split(" ");
            if (fields.length == 4 && (uri == null || fields[1].equals(uri))) {
                total += Long.parseLong(fields[3]);
            }
        }
        return total;
    }

    private Path accessLog() {
        return dir.resolve("access.log");
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }
}
