package dev.branchboot.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.http.HttpStats;
import dev.branchboot.qcow2.ReadStatistics;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** The metrics endpoint answers a scrape with every counter in the Prometheus text format. */
class MetricsEndpointTest {
    @Test
    void aScrapeListsEveryCounter() throws Exception {
        try (MetricsEndpoint endpoint = MetricsEndpoint.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                new ReadStatistics(), new HttpStats())) {
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + endpoint.address().getPort() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode());
            assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
            for (String metric : new String[] {"branchboot_agent_bytes_read_total 0", "branchboot_agent_bytes_fetched_total 0",
                    "branchboot_agent_http_requests_total 0", "branchboot_agent_http_retries_total 0", "branchboot_agent_failovers_total 0",
                    "branchboot_agent_readahead_hits_total 0", "branchboot_agent_read_ahead_bytes_total 0",
                    "branchboot_agent_read_ahead_unused_bytes_total 0", "branchboot_agent_http_request_seconds_count 0",
                    "# TYPE branchboot_agent_http_retries_total counter", "branchboot_agent_clusters_decompressed_total 0",
                    "branchboot_agent_bytes_decompressed_total 0", "branchboot_agent_cluster_cache_hits_total 0",
                    "branchboot_agent_l2_cache_hits_total 0", "branchboot_agent_l2_cache_misses_total 0"}) {
                assertTrue(response.body().contains(metric + "\n"), metric + " in:\n" + response.body());
            }
        }
    }
}
