package dev.branchboot.server.testing;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real nginx serving {@code root} under {@code /images/} on 127.0.0.1, from a configuration
 * generated in a temporary directory, with an access log of {@code $uri $status $body_bytes_sent}
 * there, so tests can count the bytes it sent. Can be stopped and started again on the same port.
 */
public final class Nginx implements AutoCloseable {
    private final Path dir;
    private final Path root;
    private final int port;
    private Process process;
    private String limitRate = "0";

    private Nginx(Path dir, Path root, int port) {
        this.dir = dir;
        this.root = root;
        this.port = port;
    }

    /** Starts nginx on a free port serving {@code root}, its files kept in {@code dir}. */
    public static Nginx start(Path dir, Path root) throws IOException, InterruptedException {
        Nginx nginx = new Nginx(Files.createDirectories(dir), root, freePort());
        nginx.start();
        return nginx;
    }

    /** A port nobody listens on right now. */
    public static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    /** Throttles each response to {@code rate} (nginx syntax, such as {@code 2m}) from the next start on. */
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
                    log_format bytes '$uri $status $body_bytes_sent';
                    access_log %1$s/access.log bytes;
                    client_body_temp_path %1$s/body;
                    proxy_temp_path %1$s/proxy;
                    fastcgi_temp_path %1$s/fastcgi;
                    uwsgi_temp_path %1$s/uwsgi;
                    scgi_temp_path %1$s/scgi;
                    server {
                        listen 127.0.0.1:%2$d;
                        limit_rate %4$s;
                        location /images/ { alias %3$s/; }
                    }
                }
                """.formatted(dir, port, root, limitRate));
        process = new ProcessBuilder("nginx", "-c", config.toString(), "-e", dir.resolve("error.log").toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("stdout.log").toFile()))
                .start();
        for (int attempt = 0; ; attempt++) {
            try {
                new Socket(InetAddress.getLoopbackAddress(), port).close();
                return;
            } catch (ConnectException e) {
                if (!process.isAlive() || attempt > 200) {
                    throw new IllegalStateException("nginx did not start: " + Files.readString(dir.resolve("error.log")), e);
                }
                Thread.sleep(50);
            }
        }
    }

    /** Stops nginx (the port refuses connections afterwards). */
    public void stop() throws InterruptedException {
        if (process != null) {
            process.destroy();
            process.waitFor(10, TimeUnit.SECONDS);
            process = null;
        }
    }

    /** The base URL of the image folder, {@code http://127.0.0.1:PORT/images}. */
    public String imagesUrl() {
        return "http://127.0.0.1:" + port + "/images";
    }

    /** Body bytes nginx logged as sent for {@code uri} (such as {@code /images/disk.raw}). */
    public long bytesSent(String uri) throws IOException {
        Path log = dir.resolve("access.log");
        if (!Files.exists(log)) {
            return 0;
        }
        long total = 0;
        List<String> lines = Files.readAllLines(log);
        for (String line : lines) {
            String[] fields = line.split(" ");
            if (fields.length == 3 && fields[0].equals(uri)) {
                total += Long.parseLong(fields[2]);
            }
        }
        return total;
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }
}
