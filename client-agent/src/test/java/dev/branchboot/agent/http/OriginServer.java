package dev.branchboot.agent.http;

import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The packaged branchboot server in origin mode on a free loopback port, for the acceptance tests. */
public final class OriginServer implements AutoCloseable {
    private final Process process;
    private final int port;
    private final Path log;

    private OriginServer(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /** Starts the server on {@code imagesDir}, logging into {@code workDir}, and waits until it is ready. */
    public static OriginServer start(Path imagesDir, Path workDir) throws IOException, InterruptedException {
        int port = Nginx.freePort();
        Path log = workDir.resolve("server.log");
        Process process = new ProcessBuilder("java", "-jar", System.getProperty("branchboot.server.jar"),
                "--branchboot.images-dir=" + imagesDir, "--server.address=127.0.0.1", "--server.port=" + port)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        OriginServer server = new OriginServer(process, port, log);
        HttpClient client = HttpClient.newHttpClient();
        for (int i = 0; i < 240; i++) {
            try {
                HttpResponse<Void> ready = client.send(HttpRequest.newBuilder(URI.create(server.root() + "/actuator/health/readiness"))
                        .build(), HttpResponse.BodyHandlers.discarding());
                if (ready.statusCode() == 200) {
                    return server;
                }
            } catch (IOException notYet) {
                // The server is still starting.
            }
            if (!process.isAlive()) {
                throw new IOException("the server exited with " + process.exitValue() + ": " + Files.readString(log));
            }
            Thread.sleep(250);
        }
        server.close();
        throw new IOException("the server did not become ready: " + Files.readString(log));
    }

    /** {@code http://127.0.0.1:PORT}. */
    public String root() {
        return "http://127.0.0.1:" + port;
    }

    /** The base URL of the images folder, as the agent's {@code --server} takes it. */
    public String images() {
        return root() + "/images";
    }

    /** The port the server listens on. */
    public int port() {
        return port;
    }

    /** What the server logged so far. */
    public String log() throws IOException {
        return Files.readString(log);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
