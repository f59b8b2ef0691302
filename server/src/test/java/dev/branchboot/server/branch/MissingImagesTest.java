package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.testkit.Nginx;
import io.micrometer.core.instrument.MeterRegistry;
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
 * Requests for a name no upstream has, through a branch in front of a real nginx: 50 of them cost
 * nginx one request, not 50 (the branch remembers the 404 for
 * {@link UpstreamClient#NOT_FOUND_TTL}, counted in
 * {@code branchboot_upstream_not_found_cache_hits_total}), and an image then published under the
 * name is served within that time.
 */
class MissingImagesTest {
    @TempDir
    Path temp;
    private Path origin;
    private Nginx nginx;

    @BeforeEach
    void origin() throws Exception {
        origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), new byte[4096]);
        nginx = Nginx.start(temp.resolve("nginx"), origin);
    }

    @AfterEach
    void stop() throws Exception {
        nginx.close();
    }

    @Test
    void requestsForAMissingNameCostTheOriginOneRequestAndAPublishedImageAppearsWithinTheTtl() throws Exception {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"))) {
            long before = nginx.requests();
            long start = System.nanoTime();
            for (int i = 0; i < 50; i++) {
                assertEquals(404, branch.get("/images/new.raw", "Range", "bytes=0-99").statusCode());
            }
            long seconds = (System.nanoTime() - start) / 1_000_000_000L;
            long asked = nginx.requests() - before;
            // One request per name per TTL: one, unless this machine took longer than the TTL for 50 requests.
            assertTrue(asked >= 1 && asked <= 1 + seconds / UpstreamClient.NOT_FOUND_TTL.toSeconds(),
                    "50 requests for a missing name cost the origin " + asked + " requests in " + seconds + " s");
            double hits = branch.bean(MeterRegistry.class).get("branchboot.upstream.not.found.cache.hits").counter().count();
            assertEquals(50 - asked, (long) hits, "the others were answered from what the branch remembered");

            byte[] published = new byte[100_000];
            new Random(5).nextBytes(published);
            Files.write(origin.resolve("new.raw.part"), published);
            Files.move(origin.resolve("new.raw.part"), origin.resolve("new.raw"));
            long publishedAt = System.nanoTime();
            Awaitility.await("the published image").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
                    .until(() -> branch.get("/images/new.raw").statusCode() == 200);
            long millis = (System.nanoTime() - publishedAt) / 1_000_000;
            assertTrue(millis <= UpstreamClient.NOT_FOUND_TTL.toMillis() + 2_000,
                    "the published image appeared after " + millis + " ms, remembered missing for " + UpstreamClient.NOT_FOUND_TTL);
            assertArrayEquals(published, branch.get("/images/new.raw").body());
        }
    }
}
