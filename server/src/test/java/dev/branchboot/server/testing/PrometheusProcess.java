package dev.branchboot.server.testing;

import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A real Prometheus (Debian's {@code prometheus} binary) on a free port of 127.0.0.1 with a given
 * configuration file, whose HTTP API a test queries. Closing it stops the process.
 */
public final class PrometheusProcess implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Process process;
    private final Path log;
    private final int port;

    private PrometheusProcess(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /** Starts Prometheus with {@code config}, its data in {@code dir}, and waits until it is ready. */
    public static PrometheusProcess start(Path config, Path dir) throws IOException {
        int port = Nginx.freePort();
        Path log = dir.resolve("prometheus.log");
        Process process = new ProcessBuilder("prometheus", "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        PrometheusProcess prometheus = new PrometheusProcess(process, log, port);
        try {
            Awaitility.await("Prometheus to be ready").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                    .until(() -> {
                        if (!process.isAlive()) {
                            throw new IllegalStateException("prometheus exited: " + prometheus.log());
                        }
                        return prometheus.tryGet("/-/ready") != null;
                    });
        } catch (RuntimeException e) {
            prometheus.close();
            throw e;
        }
        return prometheus;
    }

    /**
     * The {@code data} of an instant query's answer; fails with Prometheus's error message when the
     * query does not parse or cannot be evaluated.
     */
    public JsonNode query(String promql) {
        return api("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
    }

    /** The {@code data} of a successful answer of the API at {@code pathAndQuery}, else an AssertionError with the error. */
    public JsonNode api(String pathAndQuery) {
        HttpResponse<byte[]> response = TestHttp.send("GET", URI.create("http://127.0.0.1:" + port + pathAndQuery));
        JsonNode answer = JSON.readTree(response.body());
        if (response.statusCode() != 200 || !"success".equals(answer.path("status").asString())) {
            throw new AssertionError(pathAndQuery + ": HTTP " + response.statusCode() + " "
                    + answer.path("errorType").asString() + ": " + answer.path("error").asString());
        }
        return answer.path("data");
    }

    /** The body of a 200 answer, or null while Prometheus is not yet there. */
    private String tryGet(String path) {
        try {
            HttpResponse<byte[]> response = TestHttp.send("GET", URI.create("http://127.0.0.1:" + port + path));
            return response.statusCode() == 200 ? new String(response.body(), StandardCharsets.UTF_8) : null;
        } catch (UncheckedIOException notYet) {
            return null;
        }
    }

    /** What Prometheus has logged so far. */
    public String log() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
