package dev.branchboot.server.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.testing.TestProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.server.upstream.UpstreamRevision;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cache directory written by the earlier layout (format 1: 256 KiB chunks, a {@code state} file
 * of presence flags and CRC32Cs) is migrated in place: chunks whose bytes still match their
 * checksum stay cached and are not fetched again, a chunk that fails is dropped, and a cache of a
 * later format is refused rather than misread.
 */
class CacheFormatTest {
    private static final int CHUNK = 256 * 1024;
    private static final int SIZE = 4 * CHUNK + 5000;

    @TempDir
    Path temp;

    private BranchbootProperties properties(Path origin) {
        return TestProperties.of("upstreams", origin.toUri().toString(), "cache.dir", temp.resolve("cache").toString(),
                "cache.fetch-size", CHUNK + "B");
    }

    @Test
    void aFormat1CacheIsMigratedKeepingTheChunksThatAreStillRight() throws Exception {
        byte[] image = new byte[SIZE];
        new Random(3).nextBytes(image);
        Path origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), image);
        BranchbootProperties properties = properties(origin);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        UpstreamClient upstreams = new UpstreamClient(properties, registry);
        UpstreamRevision upstream = upstreams.describe("disk.raw").block(Duration.ofSeconds(10));

        // Format 1: chunks 0, 1, 2 and the short last one (4) present; chunk 2's bytes rotted on disk; 3 missing.
        Path dir = Files.createDirectories(temp.resolve("cache/revisions").resolve(CacheDirectory.idOf("disk.raw", upstream.etag())));
        RevisionProperties.write(dir, upstream);
        byte[] onDisk = image.clone();
        Arrays.fill(onDisk, 3 * CHUNK, 4 * CHUNK, (byte) 0); // never fetched: a hole
        onDisk[2 * CHUNK + 17] ^= 1;
        Files.write(dir.resolve("data"), onDisk);
        boolean[] present = {true, true, true, false, true};
        Files.write(dir.resolve("state"), formatOneState(image, present));
        Files.writeString(temp.resolve("cache/clean-shutdown"), "then\n");

        CacheMetrics metrics = new CacheMetrics(registry);
        CacheDirectory directory = new CacheDirectory(properties, metrics, registry);
        try {
            assertEquals("branchboot-cache 2", Files.readString(temp.resolve("cache/format")).strip());
            assertFalse(Files.exists(dir.resolve("state")), "the format 1 state is gone");
            CachedRevision revision = directory.find("disk.raw", upstream.etag()).orElseThrow();
            assertEquals(2L * CHUNK + 5000, revision.cachedBytes(), "chunks 0, 1 and the last kept");
            assertTrue(revision.allPresent(0, 2L * CHUNK - 1));
            assertFalse(revision.isPresent(2L * CHUNK + 17), "the rotted chunk is dropped");
            assertTrue(revision.allPresent(4L * CHUNK, SIZE - 1));

            CacheFiller filler = new CacheFiller(upstreams, new SignedManifests(properties, upstreams, registry), metrics, properties);
            ByteBuffer all = ByteBuffer.allocate(SIZE);
            for (CacheFiller.Part part : filler.plan(revision, 0, SIZE)) {
                all.put(filler.bytes(revision, part).block(Duration.ofSeconds(10)));
            }
            assertArrayEquals(image, all.array());
            assertEquals(2.0 * CHUNK, registry.get("branchboot.cache.fill").counter().count(),
                    "only the dropped and the missing chunk crossed the uplink");
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(revision::complete);
        } finally {
            directory.close();
        }
        // Opened again: format 2 already, the whole image present.
        CacheDirectory again = new CacheDirectory(properties, new CacheMetrics(new SimpleMeterRegistry()), new SimpleMeterRegistry());
        try {
            assertEquals(SIZE, again.find("disk.raw", upstream.etag()).orElseThrow().cachedBytes());
        } finally {
            again.close();
        }
    }

    @Test
    void aCacheOfALaterFormatIsRefusedNamingTheDirectory() throws Exception {
        Path cache = Files.createDirectories(temp.resolve("cache"));
        Files.writeString(cache.resolve("format"), "branchboot-cache 3\n");
        BranchbootProperties properties = properties(Files.createDirectories(temp.resolve("origin")));
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> new CacheDirectory(properties, new CacheMetrics(registry), registry));
        assertTrue(refused.getMessage().contains(cache.toRealPath().toString()), refused.getMessage());
        assertTrue(refused.getMessage().contains("format 3"), refused.getMessage());
        assertEquals("branchboot-cache 3", Files.readString(cache.resolve("format")).strip(), "left as it was");
    }

    /** The format 1 state file: magic, version, chunk size, count, (present, CRC32C) per chunk, CRC32C of it all. */
    private static byte[] formatOneState(byte[] image, boolean[] present) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x42424353);
        out.writeInt(1);
        out.writeInt(CHUNK);
        out.writeInt(present.length);
        for (int i = 0; i < present.length; i++) {
            CRC32C crc = new CRC32C();
            crc.update(image, i * CHUNK, Math.min(CHUNK, image.length - i * CHUNK));
            out.writeBoolean(present[i]);
            out.writeInt(present[i] ? (int) crc.getValue() : 0);
        }
        CRC32C all = new CRC32C();
        all.update(bytes.toByteArray());
        out.writeInt((int) all.getValue());
        return bytes.toByteArray();
    }
}
