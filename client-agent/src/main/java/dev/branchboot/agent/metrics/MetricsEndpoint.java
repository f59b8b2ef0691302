package dev.branchboot.agent.metrics;

import com.sun.net.httpserver.HttpServer;
import dev.branchboot.agent.http.HttpStats;
import dev.branchboot.qcow2.ReadStatistics;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * {@code --metrics tcp:HOST:PORT}: the agent's image and HTTP counters in the Prometheus text format at
 * {@code /metrics}, served by the JDK's small built-in HTTP server on one daemon thread (no
 * metrics library: the agent runs in an initramfs and starts fast).
 */
public final class MetricsEndpoint implements AutoCloseable {
    /**
     * The JDK server's bound on reading one request, in seconds: it waits for a request without
     * any limit otherwise, on its one thread, so a client that sends "GET /metr" and nothing more
     * (or a byte now and then) stopped every scrape after it. A scrape's request is a few hundred
     * bytes; Prometheus gives up on a scrape after 10 s by default.
     */
    static final String MAX_REQUEST_SECONDS = "5";
    private static final String MAX_REQUEST_PROPERTY = "sun.net.httpserver.maxReqTime";

    private final HttpServer server;

    private MetricsEndpoint(HttpServer server) {
        this.server = server;
    }

    /** Starts serving {@code image} and {@code stats} (null for a local image) on {@code address}. */
    public static MetricsEndpoint start(InetSocketAddress address, ReadStatistics image, HttpStats stats) throws IOException {
        // Read once, when the JDK's server is first used: in the agent that is here. A value set
        // on the command line (-D) is kept.
        if (System.getProperty(MAX_REQUEST_PROPERTY) == null) {
            System.setProperty(MAX_REQUEST_PROPERTY, MAX_REQUEST_SECONDS);
        }
        HttpServer server = HttpServer.create(address, 8);
        server.createContext("/metrics", exchange -> {
            try (exchange) {
                byte[] body = render(image, stats).getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        });
        server.setExecutor(null); // the server's own single thread: scrapes are rare and cheap
        server.start();
        return new MetricsEndpoint(server);
    }

    /** The bound address (for port 0). */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    /** The counters in the Prometheus text exposition format; the HTTP ones only when {@code stats} is given. */
    public static String render(ReadStatistics image, HttpStats stats) {
        StringBuilder out = new StringBuilder();
        counter(out, "branchboot_agent_clusters_decompressed_total", "Compressed clusters decompressed.", image.clustersDecompressed());
        counter(out, "branchboot_agent_bytes_decompressed_total", "Bytes produced by decompressing clusters.",
                image.bytesDecompressed());
        counter(out, "branchboot_agent_cluster_cache_hits_total", "Partial cluster reads answered from the decompressed-cluster cache.",
                image.clusterCacheHits());
        counter(out, "branchboot_agent_l2_cache_hits_total", "L2 table lookups answered from the cache.", image.l2CacheHits());
        counter(out, "branchboot_agent_l2_cache_misses_total", "L2 table lookups that read the image.", image.l2CacheMisses());
        if (stats == null) {
            return out.toString();
        }
        counter(out, "branchboot_agent_bytes_read_total", "Bytes the image reader asked the HTTP source for.", stats.bytesRead());
        counter(out, "branchboot_agent_bytes_fetched_total", "Body bytes received in range responses.", stats.bytesFetched());
        counter(out, "branchboot_agent_http_requests_total", "Range requests answered successfully.", stats.requests());
        counter(out, "branchboot_agent_http_retries_total", "Attempts that failed with a transient fault and were retried.",
                stats.retries());
        counter(out, "branchboot_agent_failovers_total", "Times reads moved from one server to another.", stats.failovers());
        counter(out, "branchboot_agent_readahead_hits_total", "Reads served entirely from read-ahead windows.",
                stats.readAheadHits());
        counter(out, "branchboot_agent_read_ahead_bytes_total", "Bytes fetched by read-ahead windows.", stats.readAheadFetched());
        counter(out, "branchboot_agent_read_ahead_unused_bytes_total",
                "Bytes read-ahead fetched that no read used before their window was let go: the waste of read-ahead.",
                stats.readAheadUnused());
        out.append("# HELP branchboot_agent_http_request_seconds Latency of successful range requests.\n")
                .append("# TYPE branchboot_agent_http_request_seconds summary\n")
                .append(String.format(Locale.ROOT, "branchboot_agent_http_request_seconds_sum %.6f%n", stats.latencySeconds()))
                .append("branchboot_agent_http_request_seconds_count ").append(stats.requests()).append('\n');
        return out.toString();
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n')
                .append("# TYPE ").append(name).append(" counter\n")
                .append(name).append(' ').append(value).append('\n');
    }

    @Override
    public void close() {
        server.stop(0);
    }

    /** One log line about the image reads: decompressions and cache hits. */
    public static String summary(ReadStatistics image) {
        return String.format(Locale.ROOT, "%d clusters decompressed (%.1f MiB), %d partial reads from the cluster cache, "
                        + "L2 tables %d hits / %d reads", image.clustersDecompressed(), image.bytesDecompressed() / 1048576.0,
                image.clusterCacheHits(), image.l2CacheHits(), image.l2CacheMisses());
    }
}
