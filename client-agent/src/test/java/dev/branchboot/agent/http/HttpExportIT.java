package dev.branchboot.agent.http;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.Nginx;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The agent reading its image from a real nginx over HTTP, exported over NBD and read by
 * {@code nbdcopy}: every conformance image gives exactly the bytes of {@code qemu-img convert -O raw};
 * nginx killed and restarted during a read, and one of two servers stopped and started again, cost
 * no error and no wrong byte; and a republished name (nginx sends no Content-Location) is refused
 * rather than mixed.
 */
class HttpExportIT {
    static final List<String> QUICK_JVM = AgentProcess.QUICK_JVM;
    static Nginx nginx;
    static Path root;

    @TempDir
    Path dir;

    @BeforeAll
    static void startNginx(@TempDir Path nginxDir) throws Exception {
        root = ConformanceImages.directory();
        ConformanceImages.all();
        nginx = Nginx.start(nginxDir, root);
    }

    @AfterAll
    static void stopNginx() throws InterruptedException {
        if (nginx != null) {
            nginx.close();
        }
    }

    static List<TestImage> images() throws IOException {
        return ConformanceImages.regular();
    }

    static String nameOf(TestImage image) {
        return root.relativize(image.image()).toString();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void nbdcopyReadsExactlyTheReferenceBytes(TestImage image) throws Exception {
        List<String> format = image.image().toString().endsWith(".raw") ? List.of("--format", "raw") : List.of();
        String[] args = concat(List.of("--server", nginx.imagesUrl(), "--image", nameOf(image), "--listen", "unix:" + dir.resolve("nbd.sock"),
                "--cow", "none", "--retry-deadline", "20s"), format);
        try (AgentProcess agent = AgentProcess.start(dir, QUICK_JVM, args)) {
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy), "nbdcopy differs at this offset");
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    private static String[] concat(List<String> a, List<String> b) {
        return java.util.stream.Stream.concat(a.stream(), b.stream()).toArray(String[]::new);
    }

    /** nginx dies (SIGKILL) while nbdcopy reads a 256 MiB image, and comes back on the same port. */
    @Test
    void aKilledAndRestartedServerCostsNoErrorAndNoWrongByte(@TempDir Path slowDir) throws Exception {
        TestImage image = ConformanceImages.named("large-zlib-256m");
        // Slow responses so that the read is surely still running when nginx is killed.
        try (Nginx slow = Nginx.startThrottled(slowDir, root, "2m");
             AgentProcess agent = AgentProcess.start(dir, List.of(), "--server", slow.imagesUrl(), "--image", nameOf(image),
                     "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--retry-deadline", "60s")) {
            Path copy = dir.resolve("copy.raw");
            Process nbdcopy = new ProcessBuilder("nbdcopy", agent.uri(""), copy.toString()).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("nbdcopy.log").toFile()).start();
            long fileSize = Files.size(image.image());
            await("nbdcopy's reads to be under way (20 requests to the throttled nginx)").atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(10)).until(slow::requests, requests -> requests >= 20);
            slow.kill();
            long before = slow.bytesSent();
            assertTrue(before < fileSize / 2, "the read was in flight when nginx died (" + before + " of " + fileSize + " bytes sent)");
            Thread.sleep(1000); // the outage under test: a second with nothing listening, which the agent rides out
            slow.start();
            assertTrue(nbdcopy.waitFor(120, TimeUnit.SECONDS), "nbdcopy finished");
            assertEquals(0, nbdcopy.exitValue(), Files.readString(dir.resolve("nbdcopy.log")) + agent.log());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy), "bytes differ at this offset");
            assertEquals(0, agent.terminate(), agent.log());
            assertTrue(agent.log().contains("marked down"), agent.log());
        }
    }

    /** Two servers: stopping the first moves reads to the second; starting it again brings them back. */
    @Test
    void failsOverToTheSecondServerAndReturnsToTheFirst(@TempDir Path secondDir) throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        try (Nginx second = Nginx.start(secondDir, root);
             Nginx first = Nginx.start(dir.resolve("first"), root);
             AgentProcess agent = AgentProcess.start(dir, QUICK_JVM, "--server", first.imagesUrl(), "--server", second.imagesUrl(),
                     "--image", nameOf(image), "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--cache-size", "0")) {
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy));
            long secondBefore = second.gets();
            first.kill();
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy));
            assertTrue(second.gets() > secondBefore, "the second server served the read");
            first.start();
            // Recovery takes 3 good probes, the move back 5 more rounds in a row, at one round per 2 s.
            String back = "now reading from server " + first.imagesUrl() + "/";
            await("the agent to log '" + back + "'").atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(50))
                    .untilAsserted(() -> {
                        String log = agent.log();
                        assertTrue(log.contains(back), log);
                    });
            assertTrue(agent.log().contains("server " + first.imagesUrl() + "/ recovered"), agent.log());
            long firstBefore = first.gets();
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy));
            assertTrue(first.gets() > firstBefore, "reads went back to the first server");
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    /**
     * The symlinked name is repointed to another image while the agent serves it. nginx sends no
     * Content-Location, so the agent cannot find its revision under another name: it must refuse
     * (an I/O error naming the pinned revision) rather than return bytes of the new revision.
     */
    @Test
    void aRepublishedNameWithoutContentLocationIsRefusedNeverMixed(@TempDir Path images) throws Exception {
        Files.copy(ConformanceImages.named("zlib-64k").image(), images.resolve("disk@1.qcow2"));
        Files.copy(ConformanceImages.named("zstd-64k").image(), images.resolve("disk@2.qcow2"));
        Files.createSymbolicLink(images.resolve("disk.qcow2"), Path.of("disk@1.qcow2"));
        try (Nginx own = Nginx.start(dir.resolve("nginx"), images);
             AgentProcess agent = AgentProcess.start(dir, QUICK_JVM, "--server", own.imagesUrl(), "--image", "disk.qcow2",
                     "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--cache-size", "0")) {
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(ConformanceImages.named("zlib-64k").reference(), copy));
            Files.createSymbolicLink(images.resolve(".new"), Path.of("disk@2.qcow2"));
            Files.move(images.resolve(".new"), images.resolve("disk.qcow2"), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            Process nbdcopy = new ProcessBuilder("nbdcopy", agent.uri(""), copy.toString()).redirectErrorStream(true).start();
            String output = new String(nbdcopy.getInputStream().readAllBytes());
            assertNotEquals(0, nbdcopy.waitFor(), "nbdcopy must see an error, not another revision's bytes: " + output);
            assertTrue(agent.log().contains("no server has the pinned revision"), agent.log());
            assertEquals(0, agent.terminate(), agent.log());
        }
    }
}
