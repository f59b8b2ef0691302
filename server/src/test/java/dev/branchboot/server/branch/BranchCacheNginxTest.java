package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.cache.CacheScrubber;
import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.server.testing.Multipart;
import dev.branchboot.testkit.Nginx;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The branch cache in front of a real nginx origin: every byte read through the branch equals the
 * origin's file, twenty cold readers pull about one copy over the "uplink" (counted in nginx's
 * access log), the cache survives a restart with the origin down, a corrupted block is detected and
 * fetched again, the first upstream being down fails over to the second, and a republished image
 * gives old readers the old revision and new readers the new one.
 */
class BranchCacheNginxTest {
    /** Not a multiple of the 4 KiB blocks nor of the tests' 256 KiB fetches, so the short last block is exercised. */
    private static final int SIZE = 4 * 1024 * 1024 + 12_345;
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @TempDir
    Path temp;
    private Path origin;
    private Path cache;
    private byte[] disk;
    private Nginx nginx;
    private BranchServer branch;

    @BeforeEach
    void origin() throws Exception {
        origin = Files.createDirectories(temp.resolve("origin"));
        cache = temp.resolve("cache");
        disk = randomBytes(SIZE, 1);
        Files.write(origin.resolve("disk.raw"), disk);
        nginx = Nginx.start(temp.resolve("nginx"), origin);
    }

    @AfterEach
    void stop() throws Exception {
        if (branch != null) {
            branch.close();
        }
        nginx.close();
    }

    private static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private HttpResponse<byte[]> fromNginx(String path, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(nginx.imagesUrl() + path));
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        return CLIENT.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private void assertSameAsOrigin(String range) throws Exception {
        HttpResponse<byte[]> ours = branch.get("/images/disk.raw", "Range", range);
        HttpResponse<byte[]> theirs = fromNginx("/disk.raw", "Range", range);
        assertEquals(theirs.statusCode(), ours.statusCode(), range);
        if (theirs.statusCode() == 206 && theirs.headers().firstValue("Content-Range").isPresent()) {
            assertEquals(theirs.headers().firstValue("Content-Range"), ours.headers().firstValue("Content-Range"), range);
            assertArrayEquals(theirs.body(), ours.body(), range);
        } else if (theirs.statusCode() == 206) {
            List<Multipart.Part> ourParts = Multipart.parse(ours.headers().firstValue("Content-Type").orElseThrow(), ours.body());
            List<Multipart.Part> theirParts = Multipart.parse(theirs.headers().firstValue("Content-Type").orElseThrow(),
                    theirs.body());
            assertEquals(theirParts.size(), ourParts.size(), range);
            for (int i = 0; i < ourParts.size(); i++) {
                assertEquals(theirParts.get(i).first(), ourParts.get(i).first(), range);
                assertArrayEquals(theirParts.get(i).data(), ourParts.get(i).data(), range);
            }
        } else if (theirs.statusCode() == 416) {
            assertEquals(theirs.headers().firstValue("Content-Range"), ours.headers().firstValue("Content-Range"), range);
        } else {
            assertArrayEquals(theirs.body(), ours.body(), range);
        }
    }

    private static final List<String> RANGE_FORMS = List.of("bytes=0-0", "bytes=100-300000", "bytes=-70000",
            "bytes=4000000-", "bytes=262143-262144", "bytes=10-20,300000-400000,4190000-", "bytes=0-",
            "bytes=99999999-");

    @Test
    void everyRangeFormEqualsTheOriginColdAndWarm() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        HttpResponse<byte[]> head = branch.send("HEAD", "/images/disk.raw");
        HttpResponse<byte[]> nginxHead = fromNginx("/disk.raw");
        for (String header : List.of("ETag", "Last-Modified", "Content-Length")) {
            assertEquals(nginxHead.headers().firstValue(header), head.headers().firstValue(header), header);
        }
        // Cold: each form fills the blocks it touches; warm: the same forms from the cache, zero-copy where whole.
        for (String range : RANGE_FORMS) {
            assertSameAsOrigin(range);
        }
        HttpResponse<byte[]> whole = branch.get("/images/disk.raw");
        assertEquals(200, whole.statusCode());
        assertArrayEquals(disk, whole.body());
        for (String range : RANGE_FORMS) {
            assertSameAsOrigin(range);
        }
        branch.awaitCached(SIZE);
        assertEquals(404, branch.get("/images/missing.raw").statusCode());
        HttpResponse<byte[]> post = branch.send("POST", "/images/disk.raw");
        assertEquals(405, post.statusCode());
        assertEquals("GET, HEAD", post.headers().firstValue("Allow").orElse(null));
        // nginx has no catalog: the branch lists what it has seen, with what it holds of it.
        String catalog = new String(branch.get("/images").body());
        assertTrue(catalog.contains("\"upstream\":null"), catalog);
        assertTrue(catalog.contains("\"name\":\"disk.raw\""), catalog);
        assertTrue(catalog.contains("\"cachedBytes\":" + SIZE), catalog);
    }

    @Test
    void aBranchOfABranchServesTheSameBytesAndPassesTheCatalogThrough() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        try (BranchServer tier2 = BranchServer.start("http://127.0.0.1:" + branch.port() + "/images", temp.resolve("cache2"),
                "--branchboot.cache.fetch-size=1MB")) {
            assertArrayEquals(disk, tier2.get("/images/disk.raw").body());
            assertEquals(fromNginx("/disk.raw", "Range", "bytes=0-0").headers().firstValue("ETag"),
                    tier2.get("/images/disk.raw", "Range", "bytes=0-0").headers().firstValue("ETag"));
            tier2.awaitCached(SIZE);
            String catalog = new String(tier2.get("/images").body());
            assertTrue(catalog.contains("\"upstream\":\"http://127.0.0.1:" + branch.port() + "/images\""), catalog);
            assertTrue(catalog.contains("\"cachedBytes\":" + SIZE), catalog);
        }
        assertEquals(SIZE + 1, nginx.bytesSent("/images/disk.raw"), "one copy through both tiers, and our one-byte probe");
    }

    @Test
    void twentyColdReadersPullAboutOneCopy() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        ExecutorService readers = Executors.newFixedThreadPool(20);
        try {
            List<Callable<byte[]>> reads = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                reads.add(() -> branch.get("/images/disk.raw").body());
            }
            for (Future<byte[]> read : readers.invokeAll(reads)) {
                assertArrayEquals(disk, read.get());
            }
        } finally {
            readers.shutdown();
        }
        long uplink = nginx.bytesSent("/images/disk.raw");
        System.out.printf("20 cold readers of %d bytes: nginx sent %d bytes (%.3fx)%n", SIZE, uplink, (double) uplink / SIZE);
        assertTrue(uplink >= SIZE, "nginx sent " + uplink);
        assertTrue(uplink <= SIZE * 1.1, "nginx sent " + uplink + " bytes for 20 readers of " + SIZE);
    }

    @Test
    void restartedWithTheOriginDownStillServesWhatItCached() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(Arrays.copyOfRange(disk, 0, 1_000_000), branch.get("/images/disk.raw", "Range", "bytes=0-999999").body());
        branch.close();
        nginx.stop();
        branch = BranchServer.start(nginx.imagesUrl(), cache, "--branchboot.cache.fetch-attempts=1");
        HttpResponse<byte[]> cached = branch.get("/images/disk.raw", "Range", "bytes=0-999999");
        assertEquals(206, cached.statusCode());
        assertArrayEquals(Arrays.copyOfRange(disk, 0, 1_000_000), cached.body());
        // Not cached and the origin down: an error, never made-up bytes.
        HttpResponse<byte[]> uncached = branch.get("/images/disk.raw", "Range", "bytes=3000000-3000099");
        assertNotEquals(206, uncached.statusCode());
        nginx.start();
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
    }

    @Test
    void aCorruptedBlockIsDroppedByTheScrubAndFetchedAgain() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        corruptCachedData(300_000);
        branch.bean(CacheScrubber.class).scrub();
        assertEquals(1.0, branch.bean(MeterRegistry.class).get("branchboot.cache.checksum.failures").counter().count());
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        // Only the corrupted block (both bytes lie in the 4 KiB block from 299,008) is fetched again.
        assertEquals(SIZE + 4096, nginx.bytesSent("/images/disk.raw"));
    }

    @Test
    void afterAnUncleanShutdownCachedBlocksAreCheckedBeforeTheyAreServed() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        branch.close();
        branch = null;
        // As after a crash: no clean-shutdown marker, and bytes on disk that no longer match.
        Files.delete(cache.resolve("clean-shutdown"));
        corruptCachedData(1_000_000);
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        assertEquals(1.0, branch.bean(MeterRegistry.class).get("branchboot.cache.checksum.failures").counter().count());
    }

    @Test
    void aByteChangedWhileTheBranchWasStoppedIsCaughtWhenServed() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        branch.close();
        branch = null;
        // A clean shutdown (the marker stays), then bit flips on disk: no start-up check runs.
        assertTrue(Files.exists(cache.resolve("clean-shutdown")));
        corruptCachedData(2_000_000);
        corruptCachedData(3_500_000);
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        // A short range (answered on the event loop) over the first.
        HttpResponse<byte[]> range = branch.get("/images/disk.raw", "Range", "bytes=1999000-2000999");
        assertEquals(206, range.statusCode());
        assertArrayEquals(Arrays.copyOfRange(disk, 1_999_000, 2_001_000), range.body());
        assertEquals(1.0, branch.bean(MeterRegistry.class).get("branchboot.cache.checksum.failures").counter().count());
        // The whole file (checked, then sent with sendfile) over the second.
        assertArrayEquals(disk, branch.get("/images/disk.raw").body(), "a whole read, every block checked");
        assertEquals(2.0, branch.bean(MeterRegistry.class).get("branchboot.cache.checksum.failures").counter().count());
        // Only the blocks that changed were fetched again.
        assertEquals(SIZE + 2 * 4096, nginx.bytesSent("/images/disk.raw"));
        assertSameAsOrigin("bytes=10-20,1999990-2000010,4190000-");
    }

    @Test
    void clientsHangingUpInTheMiddleOfReadsLeaveTheCacheReadable() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        branch.awaitCached(SIZE);
        for (int i = 0; i < 30; i++) {
            // A read too long for the event loop, through WebFlux: its file reads are on other threads when the client goes.
            try (java.net.Socket socket = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), branch.port())) {
                socket.setSoTimeout(10_000);
                socket.getOutputStream().write(("GET /images/disk.raw HTTP/1.1\r\nHost: b\r\nRange: bytes=" + (i * 1000)
                        + "-\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                socket.getInputStream().readNBytes(20_000);
                socket.setSoLinger(true, 0); // a reset, as load generators and killed clients leave
            }
        }
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> {
            HttpResponse<byte[]> after = branch.get("/images/disk.raw", "Range", "bytes=100-4000000");
            assertEquals(206, after.statusCode(), new String(after.body()));
            assertArrayEquals(Arrays.copyOfRange(disk, 100, 4_000_001), after.body());
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        }, "reads after the hang-ups");
    }

    private void corruptCachedData(long offset) throws Exception {
        Path data;
        try (Stream<Path> files = Files.walk(cache.resolve("revisions"))) {
            data = files.filter(p -> p.getFileName().toString().equals("data")).findFirst().orElseThrow();
        }
        try (FileChannel channel = FileChannel.open(data, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(new byte[] {(byte) ~disk[(int) offset], 42}), offset);
            channel.force(false);
        }
    }

    @Test
    void aFullCacheDiskStillServesEveryByteFromTheUpstream() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertEquals(200, branch.send("HEAD", "/images/disk.raw").statusCode());
        branch.close();
        branch = null;
        // The revision's data file becomes /dev/full: every write fails with ENOSPC, as on a full disk.
        Path data;
        try (Stream<Path> files = Files.walk(cache.resolve("revisions"))) {
            data = files.filter(p -> p.getFileName().toString().equals("data")).findFirst().orElseThrow();
        }
        Files.delete(data);
        Files.createSymbolicLink(data, Path.of("/dev/full"));
        branch = BranchServer.start(nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        assertSameAsOrigin("bytes=10-20,300000-400000,4190000-");
        assertEquals(0, branch.bean(CacheDirectory.class).cachedBytes());
        assertTrue(branch.bean(MeterRegistry.class).get("branchboot.cache.store.failures").counter().count() >= 17);
    }

    /**
     * A real full filesystem: the cache on a 2 MiB tmpfs for a 4 MiB image. Needs root (CI runs as
     * root); skipped elsewhere, where the /dev/full test above covers the same path.
     */
    @Test
    void aCacheOnAFullTmpfsServesEveryByteAndCachesAgainOnceThereIsRoom() throws Exception {
        Path mountPoint = Files.createDirectories(temp.resolve("small-disk"));
        Assumptions.assumeTrue(mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint.toString()),
                "mounting a tmpfs needs root");
        try {
            Path smallCache = mountPoint.resolve("cache");
            branch = BranchServer.start(nginx.imagesUrl(), smallCache);
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            assertSameAsOrigin("bytes=10-20,300000-400000,4190000-");
            assertTrue(branch.bean(CacheDirectory.class).cachedBytes() < SIZE, "the disk cannot hold the image");
            assertTrue(branch.bean(MeterRegistry.class).get("branchboot.cache.store.failures").counter().count() >= 1);
            // The fault clears: the disk grows, and reads fill the cache again.
            assertTrue(mount("-o", "remount,size=64m", mountPoint.toString()), "remount");
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            branch.awaitCached(SIZE);
        } finally {
            if (branch != null) {
                branch.close();
                branch = null;
            }
            mount("-l", mountPoint.toString());
        }
    }

    /** Runs mount (or, with "-l" first, umount -l); false when it fails or is not permitted. */
    private static boolean mount(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        if (args[0].equals("-l")) {
            command.add("umount");
        } else {
            command.add("mount");
        }
        command.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor() == 0;
    }

    @Test
    void aCacheThatCannotCreateARevisionServesPassThroughAndRecovers() throws Exception {
        branch = BranchServer.start(nginx.imagesUrl(), cache, "--branchboot.cache.revalidate-interval=0s");
        // No revision can be created: "revisions" is now a file, as unusable as a full or read-only disk.
        Files.delete(cache.resolve("revisions"));
        Files.writeString(cache.resolve("revisions"), "in the way");
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        assertSameAsOrigin("bytes=10-20,300000-400000,4190000-");
        assertEquals(0, branch.bean(CacheDirectory.class).cachedBytes());
        assertTrue(branch.bean(MeterRegistry.class).get("branchboot.cache.store.failures").counter().count() >= 1);
        // The fault clears: the next read is cached again.
        Files.delete(cache.resolve("revisions"));
        Files.createDirectory(cache.resolve("revisions"));
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        branch.awaitCached(SIZE);
    }

    @Test
    void theFirstUpstreamDownFailsOverToTheSecond() throws Exception {
        String dead = "http://127.0.0.1:" + Nginx.freePort() + "/images";
        branch = BranchServer.start(dead + "," + nginx.imagesUrl(), cache);
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        assertSameAsOrigin("bytes=-70000");
        assertTrue(branch.bean(MeterRegistry.class).get("branchboot.upstream.errors").tag("kind", "connect")
                .counter().count() > 0);
    }

    @Test
    void aRepublishedImageKeepsOldReadersOnTheOldRevision() throws Exception {
        Files.move(origin.resolve("disk.raw"), origin.resolve("disk@1.raw"));
        Files.createSymbolicLink(origin.resolve("disk.raw"), Path.of("disk@1.raw"));
        branch = BranchServer.start(nginx.imagesUrl(), cache, "--branchboot.cache.revalidate-interval=0s");
        HttpResponse<byte[]> old = branch.get("/images/disk.raw");
        assertArrayEquals(disk, old.body());
        String oldEtag = old.headers().firstValue("ETag").orElseThrow();

        byte[] newer = randomBytes(SIZE - 1000, 2);
        Files.write(origin.resolve("disk@2.raw"), newer);
        Files.setLastModifiedTime(origin.resolve("disk@2.raw"), FileTime.fromMillis(System.currentTimeMillis() + 60_000));
        Path link = origin.resolve("disk.raw.new");
        Files.createSymbolicLink(link, Path.of("disk@2.raw"));
        Files.move(link, origin.resolve("disk.raw"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);

        HttpResponse<byte[]> fresh = branch.get("/images/disk.raw");
        assertArrayEquals(newer, fresh.body());
        assertNotEquals(oldEtag, fresh.headers().firstValue("ETag").orElseThrow());
        HttpResponse<byte[]> pinned = branch.get("/images/disk.raw", "If-Match", oldEtag, "Range", "bytes=5000-9999");
        assertEquals(206, pinned.statusCode());
        assertEquals(oldEtag, pinned.headers().firstValue("ETag").orElseThrow());
        assertArrayEquals(Arrays.copyOfRange(disk, 5000, 10_000), pinned.body());
        // A revision nobody has any more: refused, not mixed.
        assertEquals(412, branch.get("/images/disk.raw", "If-Match", "\"0-1\"").statusCode());
    }

    @Test
    void aPinnedReaderOfAPartlyCachedOldRevisionGetsItThroughTheOriginsContentLocation() throws Exception {
        Files.move(origin.resolve("disk.raw"), origin.resolve("disk@1.raw"));
        Files.createSymbolicLink(origin.resolve("disk.raw"), Path.of("disk@1.raw"));
        // A branchboot origin names the revision in Content-Location; nginx does not.
        try (var branchbootOrigin = new org.springframework.boot.builder.SpringApplicationBuilder(
                dev.branchboot.server.BranchbootServerApplication.class, dev.branchboot.server.testing.OwnEventLoops.class).run("--server.port=0", "--server.address=127.0.0.1",
                "--branchboot.images-dir=" + origin, "--spring.main.banner-mode=off")) {
            String originUrl = "http://127.0.0.1:" + branchbootOrigin.getEnvironment().getProperty("local.server.port") + "/images";
            branch = BranchServer.start(originUrl, cache, "--branchboot.cache.revalidate-interval=0s");
            HttpResponse<byte[]> first = branch.get("/images/disk.raw", "Range", "bytes=0-999");
            assertArrayEquals(Arrays.copyOfRange(disk, 0, 1000), first.body());
            assertEquals("/images/disk@1.raw", first.headers().firstValue("Content-Location").orElseThrow());
            String oldEtag = first.headers().firstValue("ETag").orElseThrow();

            byte[] newer = randomBytes(SIZE, 3);
            Files.write(origin.resolve("disk@2.raw"), newer);
            Files.setLastModifiedTime(origin.resolve("disk@2.raw"), FileTime.fromMillis(System.currentTimeMillis() + 60_000));
            Path link = origin.resolve("disk.raw.new");
            Files.createSymbolicLink(link, Path.of("disk@2.raw"));
            Files.move(link, origin.resolve("disk.raw"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);

            assertArrayEquals(Arrays.copyOfRange(newer, 0, 1000), branch.get("/images/disk.raw", "Range", "bytes=0-999").body());
            // Not cached yet for the old revision: fetched from the origin by its Content-Location name.
            HttpResponse<byte[]> pinned = branch.get("/images/disk.raw", "If-Match", oldEtag, "Range", "bytes=3000000-3099999");
            assertEquals(206, pinned.statusCode());
            assertEquals(oldEtag, pinned.headers().firstValue("ETag").orElseThrow());
            assertArrayEquals(Arrays.copyOfRange(disk, 3_000_000, 3_100_000), pinned.body());
        }
    }

    @Test
    void aReaderOfARevisionThatVanishedEverywhereIsToldSo() throws Exception {
        try (var branchbootOrigin = new org.springframework.boot.builder.SpringApplicationBuilder(
                dev.branchboot.server.BranchbootServerApplication.class, dev.branchboot.server.testing.OwnEventLoops.class).run("--server.port=0", "--server.address=127.0.0.1",
                "--branchboot.images-dir=" + origin, "--spring.main.banner-mode=off")) {
            String originUrl = "http://127.0.0.1:" + branchbootOrigin.getEnvironment().getProperty("local.server.port") + "/images";
            // A branchboot origin (Content-Location names the revision) and nginx (it does not) behind two branches.
            for (String upstream : List.of(originUrl, nginx.imagesUrl())) {
                Files.deleteIfExists(origin.resolve("disk@2.raw"));
                Files.deleteIfExists(origin.resolve("disk.raw"));
                Files.write(origin.resolve("disk@1.raw"), disk);
                repoint(origin, "disk@1.raw");
                // The name's revision is trusted for a minute: the branch learns of the republishing from the fetch.
                try (BranchServer pinnedBranch = BranchServer.start(upstream, temp.resolve("cache-" + Math.abs(upstream.hashCode())),
                        "--branchboot.cache.revalidate-interval=60s")) {
                    HttpResponse<byte[]> first = pinnedBranch.get("/images/disk.raw", "Range", "bytes=0-999");
                    assertEquals(206, first.statusCode());
                    String oldEtag = first.headers().firstValue("ETag").orElseThrow();

                    // Republished, and the old revision's file removed: no upstream has it any more.
                    byte[] newer = randomBytes(SIZE, 4);
                    Files.write(origin.resolve("disk@2.raw"), newer);
                    Files.setLastModifiedTime(origin.resolve("disk@2.raw"), FileTime.fromMillis(System.currentTimeMillis() + 60_000));
                    repoint(origin, "disk@2.raw");
                    Files.delete(origin.resolve("disk@1.raw"));

                    // Unpinned, the branch still takes the name for the old revision: this read fails and tells it otherwise.
                    HttpResponse<byte[]> unpinned = pinnedBranch.get("/images/disk.raw", "Range", "bytes=3000000-3099999");
                    assertEquals(502, unpinned.statusCode(), upstream + ": " + detail(unpinned));
                    HttpResponse<byte[]> pinned = pinnedBranch.get("/images/disk.raw", "If-Match", oldEtag, "Range", "bytes=3000000-3099999");
                    assertEquals(412, pinned.statusCode(), upstream + ": " + detail(pinned));
                    assertEquals("revision " + oldEtag + " of image 'disk.raw' is no longer on any upstream; open the image "
                            + "again for its current revision", detail(pinned), upstream);
                    HttpResponse<byte[]> again = pinnedBranch.get("/images/disk.raw", "Range", "bytes=3000000-3099999");
                    assertEquals(206, again.statusCode(), upstream);
                    assertArrayEquals(Arrays.copyOfRange(newer, 3_000_000, 3_100_000), again.body());
                }
            }
        }
    }

    private static String detail(HttpResponse<byte[]> problem) {
        return new tools.jackson.databind.ObjectMapper().readTree(problem.body()).path("detail").asString();
    }

    /** Points {@code dir/disk.raw} at {@code target}, atomically, as a publisher does. */
    private static void repoint(Path dir, String target) throws IOException {
        Path link = dir.resolve("disk.raw.new");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, Path.of(target));
        Files.move(link, dir.resolve("disk.raw"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
