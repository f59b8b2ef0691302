package dev.branchboot.agent.http;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A real nginx serving a directory under {@code /images/} on 127.0.0.1, for the agent's HTTP
 * acceptance tests: one process (no master), so SIGKILL stops it at once, and restartable on the
 * same port. The access log records the status and body bytes of every response.
 */
final class Nginx implements AutoCloseable {
    private final Path dir;
    private final Path root;
    private final int port;
    private final String extra;
    private Process process;

    /** Starts nginx for {@code root} with its files in {@code dir}; {@code extra} goes into the server block. */
    Nginx(Path dir, Path root, String extra) throws IOException, InterruptedException {
        this.dir = Files.createDirectories(dir);
        this.root = root;
        this.extra = extra;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            this.port = probe.getLocalPort();
        }
        start();
    }

    /** The base URL of the images folder. */
    String base() {
        return "http://127.0.0.1:" + port + "/images";
    }

    Path accessLog() {
        return dir.resolve("access.log");
    }

    /** Requests logged so far (each line: status and body bytes). */
    long requests() throws IOException {
        return Files.exists(accessLog()) ? Files.readAllLines(accessLog()).size() : 0;
    }

    /** Body bytes sent so far, from the access log. */
    long bytesSent() throws IOException {
        long total = 0;
        if (Files.exists(accessLog())) {
            for (String line : Files.readAllLines(accessLog())) {
                String[] f = line.trim().split(" ");
                if (f.length == 2) {
                    total += Long.parseLong(f[1]);
                }
            }
        }
        return total;
    }

    void start() throws IOException, InterruptedException {
        Path config = dir.resolve("nginx.conf");
        Files.writeString(config, """
                daemon off;
                master_process off;
                pid %1$s/nginx.pid;
                error_log %1$s/error.log;
                events {}
                http {
                    log_format bytes '$status $body_bytes_sent';
                    access_log %1$s/access.log bytes;
                    sendfile on;
                    keepalive_requests 1000000;
                    client_body_temp_path %1$s/body;
                    proxy_temp_path %1$s/proxy;
                    fastcgi_temp_path %1$s/fastcgi;
                    uwsgi_temp_path %1$s/uwsgi;
                    scgi_temp_path %1$s/scgi;
                    server {
                        listen 127.0.0.1:%2$d;
                        location /images/ { alias %3$s/; }
                        %4$s
                    }
                }
                """.formatted(dir, port, root, extra));
        process = new ProcessBuilder("nginx", "-c", config.toString(), "-e", dir.resolve("error.log").toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("stdout.log").toFile())).start();
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

    /** SIGKILL: connections die mid-response, as in a crash. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            process.waitFor();
        }
    }
}
