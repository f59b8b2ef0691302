package dev.branchboot.agent.metrics;

import dev.branchboot.agent.testing.Waits;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A real Prometheus (Debian's {@code prometheus} binary) on a free port of 127.0.0.1 with a
 * configuration the test writes, whose HTTP API the agent's monitoring tests query. Every wait on
 * it is bounded and fails at once, with Prometheus's log, if Prometheus exits. Closing it stops
 * the process.
 */
final class PrometheusProcess implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** Generous for a machine busy with other tests: these tests' Prometheus scrapes and evaluates every second. */
    private static final Duration PATIENCE = Duration.ofSeconds(90);
    private static final Duration POLL_INTERVAL = Duration.ofMillis(250);

    private final Process process;
    private final Path log;
    private final int port;
    private final HttpClient http = HttpClient.newHttpClient();

    private PrometheusProcess(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /**
     * Starts Prometheus with {@code config}, its data and log ({@code prometheus.log}) in
     * {@code dir}, and waits until it is ready.
     *
     * @throws AssertionError with Prometheus's log when it exits or is not ready in time
     */
    static PrometheusProcess start(Path config, Path dir) throws IOException, InterruptedException {
        int port = Nginx.freePort();
        Path log = dir.resolve("prometheus.log");
        Process process = new ProcessBuilder("prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("tsdb"),
                "--web.listen-address=127.0.0.1:" + port).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        PrometheusProcess prometheus = new PrometheusProcess(process, log, port);
        prometheus.await("Prometheus to be ready", () -> prometheus.tryGet("/-/ready") != null);
        return prometheus;
    }

    /**
     * Polls {@code condition} until it holds, while Prometheus runs.
     *
     * @param what what is awaited, for the failure message
     * @throws AssertionError naming {@code what}, with Prometheus's log, when it exits first or the
     *                        condition does not hold in time
     */
    void await(String what, Waits.Condition condition) throws IOException, InterruptedException {
        Waits.untilReady(what, process, log, PATIENCE, POLL_INTERVAL, condition);
    }

    /**
     * The value of the first sample an instant query of {@code promql} returns, once it returns
     * one: a target's series appear only after Prometheus has scraped it.
     */
    double awaitValue(String promql) throws IOException, InterruptedException {
        double[] value = new double[1];
        await("Prometheus to have a sample of " + promql, () -> {
            JsonNode result = api("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8)).path("result");
            if (result.isEmpty()) {
                return false;
            }
            value[0] = Double.parseDouble(result.get(0).path("value").get(1).asString());
            return true;
        });
        return value[0];
    }

    /**
     * The {@code data} of a successful answer of the API at {@code pathAndQuery} (for example
     * {@code /api/v1/rules}).
     *
     * @throws AssertionError with Prometheus's error when the answer is not a success
     */
    JsonNode api(String pathAndQuery) throws IOException, InterruptedException {
        HttpResponse<String> response = get(pathAndQuery);
        JsonNode answer = JSON.readTree(response.body());
        if (response.statusCode() != 200 || !"success".equals(answer.path("status").asString())) {
            throw new AssertionError(pathAndQuery + ": HTTP " + response.statusCode() + " "
                    + answer.path("errorType").asString() + ": " + answer.path("error").asString());
        }
        return answer.path("data");
    }

    /** The body of a 200 answer, or null while Prometheus does not answer yet. */
    private String tryGet(String path) throws InterruptedException {
        try {
            HttpResponse<String> response = get(path);
            return response.statusCode() == 200 ? response.body() : null;
        } catch (IOException notYet) {
            return null;
        }
    }

    private HttpResponse<String> get(String pathAndQuery) throws IOException, InterruptedException {
        URI url = URI.create("http://127.0.0.1:" + port + pathAndQuery);
        return http.send(HttpRequest.newBuilder(url).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** What Prometheus has logged so far. */
    String log() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** SIGTERM, and SIGKILL if Prometheus has not exited 30 s later. */
    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
