package dev.branchboot.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.testkit.Nginx;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's {@code --metrics} endpoint is served by the JDK's HTTP server on one thread, in the
 * agent's own process (the bound on reading a request is set for the whole JVM, so this is no
 * unit test): a client that starts a request and never finishes it must not stop the scrapes.
 */
class MetricsSlowClientIT {
    @TempDir
    Path dir;

    @Test
    void aClientThatNeverFinishesItsRequestDoesNotStopTheScrapes() throws Exception {
        Path image = dir.resolve("disk.raw");
        Files.write(image, new byte[1 << 20]);
        int port = Nginx.freePort();
        try (AgentProcess agent = AgentProcess.start(dir, AgentProcess.QUICK_JVM, "--image", image.toString(), "--format", "raw",
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--metrics", "tcp:127.0.0.1:" + port);
             Socket slow = new Socket(InetAddress.getLoopbackAddress(), port)) {
            OutputStream out = slow.getOutputStream();
            out.write("GET /metr".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            HttpRequest scrape = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                    .timeout(Duration.ofSeconds(30)).build();
            // Generous: the bound is 5 s, the JDK looks every second.
            HttpResponse<String> response = assertTimeoutPreemptively(Duration.ofSeconds(40),
                    () -> http.send(scrape, HttpResponse.BodyHandlers.ofString()), "the scrape was never answered");
            assertEquals(200, response.statusCode());
            assertTrue(response.body().contains("branchboot_agent_l2_cache_hits_total"), response.body());
            assertEquals(0, agent.terminate(), agent.log());
        }
    }
}
