package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.replication.Replicator;
import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Admin endpoints (token required, absent without one), whole-image replication (rate-limited,
 * resumed after a restart, shown in the catalog) and the quota's LRU eviction of whole revisions,
 * against a real nginx whose access log shows what crossed the "uplink".
 */
class BranchAdminTest {
    /** Longest wait for what the server does in the background; the test asserts on state, never on time. */
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static final String TOKEN = "test-admin-token-0123456789";
    private static final int SIZE = 2 * 1024 * 1024 + 99;

    @TempDir
    Path temp;
    private byte[] disk;
    private byte[] other;
    private Nginx nginx;

    @BeforeEach
    void origin() throws Exception {
        Path origin = Files.createDirectories(temp.resolve("origin"));
        disk = new byte[SIZE];
        new Random(11).nextBytes(disk);
        other = new byte[SIZE];
        new Random(12).nextBytes(other);
        Files.write(origin.resolve("disk.raw"), disk);
        Files.write(origin.resolve("other.raw"), other);
        nginx = Nginx.start(temp.resolve("nginx"), origin);
    }

    @AfterEach
    void stop() throws Exception {
        nginx.close();
    }


    @Test
    void adminEndpointsAreAbsentWithoutATokenAndRefusedWithoutTheRightOne() {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"))) {
            assertEquals(404, branch.send("POST", "/admin/images/disk.raw/replicate").statusCode());
        }
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.admin-token=" + TOKEN)) {
            var refused = branch.send("POST", "/admin/images/disk.raw/replicate");
            assertEquals(401, refused.statusCode());
            assertEquals("Bearer", refused.headers().firstValue("WWW-Authenticate").orElse(null));
            assertEquals("application/problem+json", refused.headers().firstValue("Content-Type").orElse(null));
            var problem = new tools.jackson.databind.ObjectMapper().readTree(refused.body());
            assertEquals(401, problem.path("status").asInt());
            assertEquals("a valid bearer token is required", problem.path("detail").asString());
            assertEquals(401, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer wrong").statusCode());
            // "Bearer TOKEN": another spacing or anything after the token is not it.
            assertEquals(401, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer  " + TOKEN).statusCode());
            assertEquals(401, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer " + TOKEN + "x").statusCode());
            assertEquals(401, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Basic " + TOKEN).statusCode());
            assertEquals(404, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer " + TOKEN).statusCode());
            // The scheme in any case (RFC 9110 section 11.1): 404, the endpoint's own answer for an image not cached.
            assertEquals(404, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "bearer " + TOKEN).statusCode());
            assertEquals(404, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "BEARER " + TOKEN).statusCode());
            assertEquals(401, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "bearer " + TOKEN.toUpperCase())
                    .statusCode(), "the token itself is compared exactly");
        }
    }

    @Test
    void aRevisionBeingReadIsNotEvicted() throws Exception {
        nginx.stop();
        nginx.limitRate("1m").start();
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.admin-token=" + TOKEN)) {
            java.net.http.HttpResponse<java.io.InputStream> reading = java.net.http.HttpClient.newHttpClient().send(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + branch.port() + "/images/disk.raw")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofInputStream());
            try (java.io.InputStream body = reading.body()) {
                byte[] start = body.readNBytes(300_000);
                assertArrayEquals(java.util.Arrays.copyOf(disk, 300_000), start);
                // Mid-response (the throttled origin is still sending the rest): the revision is in use.
                assertEquals(409, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer " + TOKEN).statusCode());
                byte[] rest = body.readAllBytes();
                assertArrayEquals(java.util.Arrays.copyOfRange(disk, 300_000, SIZE), rest);
            }
            Awaitility.await("the response ended").atMost(WAIT)
                    .until(() -> !branch.bean(CacheDirectory.class).revisions().get(0).inUse());
            assertEquals(204, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer " + TOKEN).statusCode());
        }
    }

    @Test
    void replicationFillsTheWholeImageOnceAndEvictionEmptiesIt() throws Exception {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.admin-token=" + TOKEN,
                "--branchboot.replication.rate=4MB")) {
            assertEquals(202, branch.send("POST", "/admin/images/disk.raw/replicate", "Authorization", "Bearer " + TOKEN).statusCode());
            Replicator replicator = branch.bean(Replicator.class);
            Awaitility.await("replication completes").atMost(WAIT)
                    .until(() -> replicated(replicator));
            assertEquals(SIZE, branch.bean(CacheDirectory.class).cachedBytes());
            assertEquals(SIZE, nginx.bytesSent("/images/disk.raw"));
            String catalog = new String(branch.get("/images").body());
            assertTrue(catalog.contains("\"replication\":\"complete\""), catalog);
            nginx.stop();
            assertArrayEquals(disk, branch.get("/images/disk.raw").body(), "all of it served with the origin down");
            nginx.start();

            assertEquals(204, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer " + TOKEN).statusCode());
            assertEquals(0, branch.bean(CacheDirectory.class).cachedBytes());
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            assertEquals(2L * SIZE, nginx.bytesSent("/images/disk.raw"));
        }
    }

    @Test
    void aReplicationEvictedSinceItCompletedIsShownIncompleteInTheOriginsCatalog() throws Exception {
        // A branchboot origin lists its images, so the branch's catalog shows them with or without a cached byte.
        try (var origin = new org.springframework.boot.builder.SpringApplicationBuilder(
                dev.branchboot.server.BranchbootServerApplication.class, dev.branchboot.server.testing.OwnEventLoops.class).run("--server.port=0", "--server.address=127.0.0.1",
                "--branchboot.images-dir=" + temp.resolve("origin"), "--spring.main.banner-mode=off");
             BranchServer branch = BranchServer.start("http://127.0.0.1:" + origin.getEnvironment().getProperty("local.server.port")
                     + "/images", temp.resolve("cache"), "--branchboot.admin-token=" + TOKEN, "--branchboot.replication.rate=0")) {
            assertEquals(202, branch.send("POST", "/admin/images/disk.raw/replicate", "Authorization", "Bearer " + TOKEN).statusCode());
            Replicator replicator = branch.bean(Replicator.class);
            Awaitility.await("replication completes").atMost(WAIT)
                    .until(() -> replicated(replicator));
            assertTrue(new String(branch.get("/images").body()).contains("\"replication\":\"complete\""));
            assertEquals(204, branch.send("DELETE", "/admin/images/disk.raw/cache", "Authorization", "Bearer " + TOKEN).statusCode());
            String catalog = new String(branch.get("/images").body());
            assertTrue(catalog.contains("\"cachedBytes\":0") && catalog.contains("\"replication\":\"incomplete\""), catalog);
        }
    }

    @Test
    void aReplicationResumesAfterARestartWithoutRefetching() throws Exception {
        Path cache = temp.resolve("cache");
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), cache, "--branchboot.admin-token=" + TOKEN,
                "--branchboot.replication.rate=1MB")) {
            assertEquals(202, branch.send("POST", "/admin/images/disk.raw/replicate", "Authorization", "Bearer " + TOKEN).statusCode());
            CacheDirectory store = branch.bean(CacheDirectory.class);
            Awaitility.await("some blocks replicated").atMost(WAIT)
                    .until(() -> store.cachedBytes() >= 512 * 1024);
        }
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), cache, "--branchboot.replication.rate=0")) {
            Replicator replicator = branch.bean(Replicator.class);
            Awaitility.await("the replication resumed and completed").atMost(WAIT)
                    .until(() -> replicated(replicator));
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        }
        // A fetch in flight at the shutdown (one at a time when rate-limited) may have been sent twice, nothing more.
        long sent = nginx.bytesSent("/images/disk.raw");
        assertTrue(sent >= SIZE && sent <= SIZE + 256 * 1024, "nginx sent " + sent);
    }

    @Test
    void theFirstReadStartsReplicatingTheRestWhenEnabled() throws Exception {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"),
                "--branchboot.replication.on-first-read=true", "--branchboot.replication.rate=0")) {
            assertArrayEquals(java.util.Arrays.copyOfRange(disk, 0, 100), branch.get("/images/disk.raw", "Range", "bytes=0-99").body());
            Replicator replicator = branch.bean(Replicator.class);
            Awaitility.await("the first read replicated the image").atMost(WAIT)
                    .until(() -> replicated(replicator));
            assertEquals(SIZE, nginx.bytesSent("/images/disk.raw"), "the read and the replication shared the first bytes");
            // Without the application tag that every series carries (management.metrics.tags.application).
            String metrics = new String(branch.get("/actuator/prometheus").body())
                    .replace("{application=\"branchboot-server\"}", "").replace("application=\"branchboot-server\",", "");
            for (String series : new String[] {"branchboot_replication_progress{image=\"disk.raw\"} 1.0",
                    "branchboot_cache_requests_total{result=\"miss\"}", "branchboot_cache_served_bytes_total",
                    "branchboot_cache_cached_bytes " + (double) SIZE, "branchboot_cache_quota_bytes",
                    "branchboot_cache_singleflight_joins_total", "branchboot_upstream_bytes_total{upstream=",
                    "branchboot_upstream_fetch_latency_seconds_bucket{upstream=", "branchboot_cache_evictions_total",
                    "branchboot_cache_checksum_failures_total"}) {
                assertTrue(metrics.contains(series), series + " in\n" + metrics);
            }
        }
    }

    @Test
    void theQuotaEvictsTheLeastRecentlyUsedRevision() throws Exception {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.cache.quota=3MB")) {
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            assertArrayEquals(other, branch.get("/images/other.raw").body());
            CacheDirectory store = branch.bean(CacheDirectory.class);
            Awaitility.await("the cache is back under its quota").atMost(WAIT)
                    .until(() -> store.cachedBytes() <= 3 * 1024 * 1024);
            assertEquals(1, store.revisions().size());
            CachedRevision kept = store.revisions().get(0);
            assertEquals("other.raw", kept.upstream().name(), "the older read was evicted");
            assertArrayEquals(disk, branch.get("/images/disk.raw").body(), "an evicted image is fetched again");
            assertEquals(1.0, branch.bean(io.micrometer.core.instrument.MeterRegistry.class)
                    .get("branchboot.cache.evictions").counter().count(), 1.0);
        }
    }

    private static boolean replicated(Replicator replicator) {
        Replicator.Status status = replicator.status("disk.raw");
        return status != null && status.state() == Replicator.State.COMPLETE;
    }
}
