package dev.branchboot.agent.http;

import dev.branchboot.agent.testing.Waits;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** The packaged branchboot server in origin mode on a free loopback port, for the acceptance tests. */
public final class OriginServer implements AutoCloseable {
    private final Process process;
    private final int port;
    private final Path log;

    /** Generous: the server's JVM starts slowly on a machine that other tests' JVMs keep busy. */
    private static final Duration START_TIMEOUT = Duration.ofMinutes(2);

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
        URI readiness = URI.create(server.root() + "/actuator/health/readiness");
        HttpClient client = HttpClient.newHttpClient();
        Waits.untilReady("the origin server to answer " + readiness, process, log, START_TIMEOUT, Duration.ofMillis(250),
                () -> answersOk(client, readiness));
        return server;
    }

    /** Whether {@code url} answers 200 now; a refused connection means the server is still starting. */
    private static boolean answersOk(HttpClient client, URI url) throws InterruptedException {
        try {
            return client.send(HttpRequest.newBuilder(url).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException notYet) {
            return false;
        }
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
