package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.BranchbootServerApplication;
import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A branch in its own JVM is killed with SIGKILL while it fills the cache from a throttled nginx,
 * then restarted over the same cache: it serves the whole image byte for byte (blocks that were
 * marked present are durable and checked; the rest are fetched again).
 */
class KilledDuringFillTest {

    @Test
    void sigkillDuringAFillLeavesNoWrongBytes(@TempDir Path temp) throws Exception {
        byte[] disk = new byte[4 * 1024 * 1024 + 4321];
        new Random(7).nextBytes(disk);
        Path origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), disk);
        Path cache = temp.resolve("cache");
        try (Nginx nginx = Nginx.start(temp.resolve("nginx"), origin)) {
            nginx.stop();
            nginx.limitRate("2m").start();
            int port = Nginx.freePort();
            Path java = Path.of(System.getProperty("java.home"), "bin", "java");
            Process child = new ProcessBuilder(List.of(java.toString(), "-Xmx256m", "-XX:TieredStopAtLevel=1",
                    "-cp", System.getProperty("java.class.path"), BranchbootServerApplication.class.getName(),
                    "--server.port=" + port, "--server.address=127.0.0.1", "--spring.main.banner-mode=off",
                    "--branchboot.upstreams=" + nginx.imagesUrl(), "--branchboot.cache.dir=" + cache,
                    "--branchboot.cache.fetch-size=256KB", "--branchboot.cache.read-ahead=2"))
                    .redirectErrorStream(true).redirectOutput(temp.resolve("child.log").toFile()).start();
            try {
                awaitListening(child, port, temp.resolve("child.log"));
                HttpResponse<InputStream> response = HttpClient.newHttpClient().send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/images/disk.raw")).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                try (InputStream body = response.body()) {
                    byte[] firstPart = body.readNBytes(3 * 1024 * 1024);
                    assertEquals(3 * 1024 * 1024, firstPart.length);
                    // Mid-fill: the rest of the image is still arriving from the throttled origin.
                    child.destroyForcibly();
                    assertTrue(child.waitFor(30, TimeUnit.SECONDS));
                }
            } finally {
                child.destroyForcibly();
            }
            assertTrue(!Files.exists(cache.resolve("clean-shutdown")), "a killed server leaves no clean-shutdown marker");
            nginx.stop();
            nginx.limitRate("0").start();
            try (BranchServer restarted = BranchServer.start(nginx.imagesUrl(), cache)) {
                assertArrayEquals(disk, restarted.get("/images/disk.raw").body());
                restarted.awaitCached(disk.length);
            }
        }
    }

    private static void awaitListening(Process child, int port, Path log) throws IOException {
        try {
            Awaitility.await("the branch listening on port " + port).atMost(Duration.ofMinutes(1))
                    .pollInterval(Duration.ofMillis(50))
                    .failFast("the branch exited", () -> !child.isAlive())
                    .ignoreException(ConnectException.class)
                    .until(() -> {
                        new Socket(InetAddress.getLoopbackAddress(), port).close();
                        return true;
                    });
        } catch (ConditionTimeoutException | TerminalFailureException e) {
            throw new IllegalStateException("branch did not start: " + Files.readString(log), e);
        }
    }
}
