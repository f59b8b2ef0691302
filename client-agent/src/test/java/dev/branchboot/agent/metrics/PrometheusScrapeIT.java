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
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
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
            try (PrometheusProcess prometheus = PrometheusProcess.start(config, dir)) {
                assertEquals(1, prometheus.awaitValue("up{job=\"agent\"}"), "the agent's endpoint is up for Prometheus");
                assertEquals(1, prometheus.awaitValue("up{job=\"server\"}"), "the server's endpoint is up for Prometheus");
                assertEquals(fetched, prometheus.awaitValue("branchboot_agent_bytes_fetched_total"), "Prometheus stored what the agent counted");
                assertEquals(fetched, prometheus.awaitValue("sum(branchboot_response_bytes_total)"),
                        "the server sent exactly what the agent fetched");
                assertTrue(prometheus.awaitValue("branchboot_agent_clusters_decompressed_total") > 0, "clusters were decompressed");
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
}
