package dev.branchboot.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.http.OriginServer;
import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Prometheus (Debian's package) scrapes the agent's {@code --metrics} endpoint and the
 * origin server's {@code /actuator/prometheus} while the agent serves an image that nbdcopy reads
 * whole; what Prometheus stored must agree with both: the agent's bytes fetched equal the server's
 * image bytes sent, as the only client of a fresh server.
 */
class PrometheusScrapeIT {
    private static final Pattern VALUE = Pattern.compile("\"value\":\\[[0-9.e+-]+,\"([^\"]+)\"\\]");
    private final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    @Test
    void prometheusScrapesTheAgentAndTheServerAndTheirByteCountsAgree() throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        String name = ConformanceImages.directory().relativize(image.image()).toString();
        int agentMetrics = Nginx.freePort();
        try (OriginServer server = OriginServer.start(ConformanceImages.directory(), dir);
             AgentProcess agent = AgentProcess.start(dir, AgentProcess.QUICK_JVM, "--server", server.images(), "--image", name,
                     "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--metrics", "tcp:127.0.0.1:" + agentMetrics)) {
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy));
            String direct = get("http://127.0.0.1:" + agentMetrics + "/metrics");
            double fetched = sample(direct, "branchboot_agent_bytes_fetched_total");
            assertTrue(fetched >= Files.size(image.image()) * 0.9, "the agent fetched about the whole file: " + direct);

            int prometheusPort = Nginx.freePort();
            Path config = dir.resolve("prometheus.yml");
            Files.writeString(config, String.join("\n",
                    "global:",
                    "  scrape_interval: 1s",
                    "scrape_configs:",
                    "  - job_name: agent",
                    "    static_configs: [{targets: ['127.0.0.1:" + agentMetrics + "']}]",
                    "  - job_name: server",
                    "    metrics_path: /actuator/prometheus",
                    "    static_configs: [{targets: ['127.0.0.1:" + server.port() + "']}]",
                    ""));
            Path log = dir.resolve("prometheus.log");
            Process prometheus = new ProcessBuilder("prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("tsdb"),
                    "--web.listen-address=127.0.0.1:" + prometheusPort).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                String api = "http://127.0.0.1:" + prometheusPort + "/api/v1/query?query=";
                String[] queries = {"up{job=\"agent\"}", "up{job=\"server\"}", "branchboot_agent_bytes_fetched_total",
                        "sum(branchboot_response_bytes_total)", "branchboot_agent_clusters_decompressed_total"};
                double[] values = new double[queries.length];
                boolean complete = false;
                for (int i = 0; i < 240 && !complete; i++) {
                    assertTrue(prometheus.isAlive(), "prometheus exited: " + Files.readString(log));
                    Thread.sleep(250);
                    complete = true;
                    for (int q = 0; q < queries.length; q++) {
                        String answer = tryGet(api + URLEncoder.encode(queries[q], StandardCharsets.UTF_8));
                        Matcher m = answer == null ? null : VALUE.matcher(answer);
                        if (m == null || !m.find()) {
                            complete = false;
                            break;
                        }
                        values[q] = Double.parseDouble(m.group(1));
                    }
                }
                assertTrue(complete, "Prometheus has every series: " + Files.readString(log));
                assertEquals(1, values[0], "the agent's endpoint is up for Prometheus");
                assertEquals(1, values[1], "the server's endpoint is up for Prometheus");
                assertEquals(fetched, values[2], "Prometheus stored what the agent counted");
                assertEquals(fetched, values[3], "the server sent exactly what the agent fetched");
                assertTrue(values[4] > 0, "clusters were decompressed");
            } finally {
                prometheus.destroy();
                if (!prometheus.waitFor(30, TimeUnit.SECONDS)) {
                    prometheus.destroyForcibly();
                }
            }
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    private static double sample(String exposition, String metric) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(metric) + " (\\S+)$").matcher(exposition);
        assertTrue(m.find(), metric + " in:\n" + exposition);
        return Double.parseDouble(m.group(1));
    }

    private String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), url + ": " + response.body());
        return response.body();
    }

    /** The body of a 200 answer, or null while Prometheus is still starting. */
    private String tryGet(String url) throws InterruptedException {
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? response.body() : null;
        } catch (IOException notYet) {
            return null;
        }
    }
}
