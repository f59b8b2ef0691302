package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.integrity.ManifestWriter;
import dev.branchboot.integrity.PemKeys;
import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import dev.branchboot.testkit.PublisherKeys;
import dev.branchboot.testkit.TamperingProxy;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A branch with {@code branchboot.trust-key} in front of a real nginx, through a proxy that keeps
 * every header right and lies in the bodies (a flipped bit, or another revision's bytes under this
 * one's ETag): the branch neither caches nor sends a byte the publisher did not sign; with an
 * honest second upstream it serves everything right through it; a manifest signed by another key
 * is refused naming the image; and a file replaced in place with the same size and time (the same
 * nginx ETag) is a new revision, not new bytes under the old one.
 */
class SignedImagesTest {
    private static final int SIZE = 3 * 1024 * 1024 + 5_000;

    @TempDir
    Path temp;
    private Path origin;
    private byte[] disk;
    private Nginx nginx;
    private PublisherKeys keys;
    private PublisherKeys otherKeys;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void publish() throws Exception {
        origin = Files.createDirectories(temp.resolve("origin"));
        disk = new byte[SIZE];
        new Random(31).nextBytes(disk);
        Files.write(origin.resolve("disk.raw"), disk);
        byte[] older = disk.clone();
        for (int i = 0; i < older.length; i += 1000) {
            older[i] ^= 1;
        }
        Files.write(origin.resolve("disk@old.raw"), older);
        keys = PublisherKeys.make(temp, "publisher");
        otherKeys = PublisherKeys.make(temp, "other");
        ManifestWriter.write(origin.resolve("disk.raw"), PemKeys.privateKey(keys.privateKey()), null);
        nginx = Nginx.start(temp.resolve("nginx"), origin);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        nginx.close();
    }

    private BranchServer branch(String upstreams, String cache) {
        BranchServer branch = BranchServer.start(upstreams, temp.resolve(cache), "--branchboot.trust-key=" + keys.publicKey(),
                "--branchboot.cache.fetch-attempts=2");
        closing.add(branch);
        return branch;
    }

    private TamperingProxy liar(TamperingProxy.Mode mode) throws Exception {
        TamperingProxy proxy = new TamperingProxy(nginx.rootUrl(), mode);
        proxy.otherRevision("/images/disk@old.raw");
        closing.add(proxy);
        return proxy;
    }

    private static double integrityFailures(BranchServer branch) {
        return branch.bean(MeterRegistry.class).get("branchboot.cache.integrity.failures").counter().count();
    }

    @Test
    void aLyingUpstreamGetsNothingCachedOrSentAndAnHonestOneServesEverything() throws Exception {
        for (TamperingProxy.Mode mode : new TamperingProxy.Mode[] {TamperingProxy.Mode.FLIP, TamperingProxy.Mode.OTHER_REVISION}) {
            TamperingProxy liar = liar(mode);
            BranchServer alone = branch(liar.imagesUrl(), "cache-" + mode);
            for (String range : new String[] {"bytes=0-99999", "bytes=1048576-2097151", "bytes=3000000-"}) {
                HttpResponse<byte[]> response = alone.get("/images/disk.raw", "Range", range);
                assertNotEquals(206, response.statusCode(), mode + " " + range + ": no unsigned byte is sent");
            }
            assertTrue(liar.tamperedBodies() > 0, "the proxy lied");
            assertTrue(integrityFailures(alone) > 0);
            assertEquals(0, alone.bean(CacheDirectory.class).cachedBytes(), mode + ": nothing unsigned is cached");

            BranchServer both = branch(liar.imagesUrl() + "," + nginx.imagesUrl(), "cache-both-" + mode);
            HttpResponse<byte[]> whole = both.get("/images/disk.raw");
            assertEquals(200, whole.statusCode());
            assertArrayEquals(disk, whole.body(), mode + ": every byte through the honest upstream");
            assertArrayEquals(Arrays.copyOfRange(disk, 12_345, 99_999), both.get("/images/disk.raw", "Range", "bytes=12345-99998").body());
            both.awaitCached(SIZE);
            assertTrue(integrityFailures(both) > 0, "the lies were seen and counted");
        }
    }

    @Test
    void aManifestSignedByAnotherKeyIsRefusedNamingTheImage() throws Exception {
        ManifestWriter.write(origin.resolve("disk.raw"), PemKeys.privateKey(otherKeys.privateKey()), null);
        BranchServer branch = branch(nginx.imagesUrl(), "cache");
        HttpResponse<byte[]> refused = branch.get("/images/disk.raw", "Range", "bytes=0-99");
        assertEquals(502, refused.statusCode());
        assertTrue(new String(refused.body()).contains("disk.raw"), new String(refused.body()));
        assertEquals(0, branch.bean(CacheDirectory.class).cachedBytes());
        // No manifest at all, while a key is set: refused too.
        Files.delete(origin.resolve("disk.raw.manifest"));
        Files.write(origin.resolve("plain.raw"), disk);
        assertEquals(502, branch.get("/images/plain.raw", "Range", "bytes=0-99").statusCode());
    }

    @Test
    void aFileReplacedInPlaceWithTheSameSizeAndTimeIsANewRevision() throws Exception {
        Path file = origin.resolve("disk.raw");
        FileTime time = Files.getLastModifiedTime(file);
        BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.trust-key=" + keys.publicKey(),
                "--branchboot.cache.revalidate-interval=0s");
        closing.add(branch);
        String etag = branch.get("/images/disk.raw", "Range", "bytes=0-0").headers().firstValue("ETag").orElseThrow();
        assertArrayEquals(Arrays.copyOf(disk, 100_000), branch.get("/images/disk.raw", "Range", "bytes=0-99999").body());
        // Replaced in place: other bytes, the same length and modification time, so nginx's ETag stays.
        byte[] replaced = disk.clone();
        replaced[50_000] ^= 1;
        replaced[2_000_000] ^= 1;
        Files.write(file, replaced);
        Files.setLastModifiedTime(file, time);
        ManifestWriter.write(file, PemKeys.privateKey(keys.privateKey()), null);
        assertEquals(etag, branch.get("/images/disk.raw", "Range", "bytes=0-0").headers().firstValue("ETag").orElseThrow(),
                "nginx's size-and-time ETag did not change");
        assertArrayEquals(replaced, branch.get("/images/disk.raw").body(), "new readers get the new bytes, none of the old");
        assertEquals(2, branch.bean(CacheDirectory.class).revisions().size(), "two revisions under one ETag");
        assertFalse(Arrays.equals(disk, replaced));
    }

    @Test
    void aManifestIsServedThroughASignedBranchAsItIs() throws Exception {
        BranchServer branch = branch(nginx.imagesUrl(), "cache");
        HttpResponse<byte[]> manifest = branch.get("/images/disk.raw.manifest");
        assertEquals(200, manifest.statusCode(), new String(manifest.body()));
        assertArrayEquals(Files.readAllBytes(origin.resolve("disk.raw.manifest")), manifest.body());
        assertEquals(206, branch.get("/images/disk.raw", "Range", "bytes=0-99").statusCode());
    }

    @Test
    void anotherImagesManifestUnderThisNameIsRefused() throws Exception {
        // A valid image and manifest, signed by the right key for kiosk.raw, offered as disk.raw.
        Files.write(origin.resolve("kiosk.raw"), disk);
        ManifestWriter.write(origin.resolve("kiosk.raw"), PemKeys.privateKey(keys.privateKey()), null);
        Files.copy(origin.resolve("kiosk.raw.manifest"), origin.resolve("disk.raw.manifest"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        BranchServer branch = branch(nginx.imagesUrl(), "cache");
        assertEquals(502, branch.get("/images/disk.raw", "Range", "bytes=0-99").statusCode());
        assertEquals(0, branch.bean(CacheDirectory.class).cachedBytes());
        assertEquals(206, branch.get("/images/kiosk.raw", "Range", "bytes=0-99").statusCode(), "under its own name it is fine");
    }

    @Test
    void anOlderRevisionIsRefusedOnceANewerWasAcceptedEvenAfterARestart() throws Exception {
        Path file = origin.resolve("disk.raw");
        ManifestWriter.write(file, "disk.raw", java.time.Instant.parse("2026-12-01T06:00:00Z"),
                PemKeys.privateKey(keys.privateKey()), null);
        BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.trust-key=" + keys.publicKey(),
                "--branchboot.cache.revalidate-interval=0s");
        closing.add(branch);
        assertEquals(206, branch.get("/images/disk.raw", "Range", "bytes=0-99").statusCode());

        // Last month's revision with its own valid manifest, put back under the name.
        byte[] older = disk.clone();
        older[7] ^= 1;
        Files.write(file, older);
        Files.setLastModifiedTime(file, FileTime.from(java.time.Instant.parse("2026-11-01T06:00:00Z")));
        ManifestWriter.write(file, "disk.raw", java.time.Instant.parse("2026-11-01T06:00:00Z"),
                PemKeys.privateKey(keys.privateKey()), null);
        // Refused: the branch keeps serving the revision it accepted, as when its upstreams are down.
        HttpResponse<byte[]> rollback = branch.get("/images/disk.raw", "Range", "bytes=0-99");
        assertArrayEquals(Arrays.copyOf(disk, 100), rollback.body());
        branch.close();

        // Restarted with nothing cached: refused outright, because the memory of what was accepted survives.
        BranchServer restarted = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache-empty"),
                "--branchboot.trust-key=" + keys.publicKey(), "--branchboot.cache.revalidate-interval=0s");
        closing.add(restarted);
        Files.copy(temp.resolve("cache/accepted-revisions"), temp.resolve("cache-empty/accepted-revisions"));
        restarted.close();
        restarted = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache-empty"),
                "--branchboot.trust-key=" + keys.publicKey(), "--branchboot.cache.revalidate-interval=0s");
        closing.add(restarted);
        HttpResponse<byte[]> refused = restarted.get("/images/disk.raw", "Range", "bytes=0-99");
        assertEquals(502, refused.statusCode());
        assertTrue(new String(refused.body()).contains("older than a revision already accepted"), new String(refused.body()));
        assertEquals(0, restarted.bean(CacheDirectory.class).cachedBytes());
        // Rolling back on purpose: the publisher signs the old bytes again.
        ManifestWriter.write(file, "disk.raw", java.time.Instant.parse("2026-12-08T06:00:00Z"),
                PemKeys.privateKey(keys.privateKey()), null);
        HttpResponse<byte[]> resigned = restarted.get("/images/disk.raw", "Range", "bytes=0-99");
        assertEquals(206, resigned.statusCode());
        assertArrayEquals(Arrays.copyOf(older, 100), resigned.body());
    }

    @Test
    void bytesChangedOnDiskTogetherWithTheirChecksumsAreCaughtByTheManifestWhenServed() throws Exception {
        BranchServer branch = branch(nginx.imagesUrl(), "cache");
        assertArrayEquals(disk, branch.get("/images/disk.raw").body());
        branch.awaitCached(SIZE);
        branch.close();
        // While the branch is stopped (cleanly): a block rewritten along with its checksum, so only the manifest can tell.
        Path revision;
        try (var dirs = Files.list(temp.resolve("cache/revisions"))) {
            revision = dirs.findFirst().orElseThrow();
        }
        int block = 300;
        byte[] forged = Arrays.copyOfRange(disk, block * 4096, (block + 1) * 4096);
        forged[100] ^= 0x55;
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(forged);
        try (var data = java.nio.channels.FileChannel.open(revision.resolve("data"), java.nio.file.StandardOpenOption.WRITE);
             var sums = java.nio.channels.FileChannel.open(revision.resolve("sums"), java.nio.file.StandardOpenOption.WRITE)) {
            data.write(java.nio.ByteBuffer.wrap(forged), block * 4096L);
            sums.write(java.nio.ByteBuffer.allocate(4).putInt(0, (int) crc.getValue()), block * 4L);
        }
        BranchServer restarted = branch(nginx.imagesUrl(), "cache");
        HttpResponse<byte[]> range = restarted.get("/images/disk.raw", "Range", "bytes=1228000-1230000");
        assertEquals(206, range.statusCode());
        assertArrayEquals(Arrays.copyOfRange(disk, 1_228_000, 1_230_001), range.body());
        assertEquals(1.0, restarted.bean(MeterRegistry.class).get("branchboot.cache.checksum.failures").counter().count());
    }
}
