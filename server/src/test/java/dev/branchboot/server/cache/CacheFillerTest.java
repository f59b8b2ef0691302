package dev.branchboot.server.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.cache.CacheFiller.Cached;
import dev.branchboot.server.cache.CacheFiller.Fetched;
import dev.branchboot.server.cache.CacheFiller.Part;
import dev.branchboot.server.cache.InFlightFetches.Fetch;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.testing.TestProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the filler pulls over the uplink for a read, against a {@code file:} upstream (a real
 * upstream kind of the branch, no server needed): exactly the 4 KiB blocks a range touches that
 * are neither cached nor being fetched, a reader of bytes in flight joins that fetch whatever
 * range started it, a long range is split on the fetch-size grid, and every byte is right.
 */
class CacheFillerTest {
    private static final int BLOCK = 4096;
    private static final int FETCH = 64 * 1024;
    private static final int SIZE = 1_000_000; // not a multiple of a block: the last one is short

    @TempDir
    Path temp;
    private byte[] image;
    private MeterRegistry registry;
    private CacheDirectory directory;
    private CacheFiller filler;
    private CachedRevision revision;

    @BeforeEach
    void start() throws Exception {
        image = new byte[SIZE];
        new Random(11).nextBytes(image);
        Path origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), image);
        BranchbootProperties properties = TestProperties.of("upstreams", origin.toUri().toString(),
                "cache.dir", temp.resolve("cache").toString(), "cache.block-size", BLOCK + "B", "cache.fetch-size", FETCH + "B");
        registry = new SimpleMeterRegistry();
        CacheMetrics metrics = new CacheMetrics(registry);
        UpstreamClient upstreams = new UpstreamClient(properties, registry);
        directory = new CacheDirectory(properties, metrics, registry);
        filler = new CacheFiller(upstreams, new SignedManifests(properties, upstreams, registry), metrics, properties);
        revision = directory.revisionFor(upstreams.describe("disk.raw").block(Duration.ofSeconds(10)));
    }

    @AfterEach
    void stop() {
        directory.close();
    }

    private byte[] read(long start, long end) {
        ByteBuffer out = ByteBuffer.allocate((int) (end - start));
        for (Part part : filler.plan(revision, start, end)) {
            out.put(filler.bytes(revision, part).block(Duration.ofSeconds(10)));
        }
        return out.array();
    }

    private double fetchedBytes() {
        return registry.get("branchboot.cache.fill").counter().count();
    }

    private void awaitSettled() {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> revision.inFlight.size() == 0);
    }

    @Test
    void aScatteredReadFetchesOnlyTheBlocksItTouches() {
        assertArrayEquals(Arrays.copyOfRange(image, 10_000, 10_100), read(10_000, 10_100));
        assertEquals(BLOCK, fetchedBytes(), "one 4 KiB block, not a whole fetch-size");
        awaitSettled();
        assertEquals(BLOCK, revision.cachedBytes());
        // Straddling two blocks, one of them cached now: only the other is fetched.
        assertArrayEquals(Arrays.copyOfRange(image, 12_000, 12_500), read(12_000, 12_500));
        assertEquals(2 * BLOCK, fetchedBytes());
        awaitSettled();
        assertArrayEquals(Arrays.copyOfRange(image, 8_192, 16_000), read(8_192, 16_000), "all cached now");
        assertEquals(2 * BLOCK, fetchedBytes());
    }

    @Test
    void aRangeAroundACachedRunFetchesTheGapsOnEitherSideAndReadsTheRunFromDisk() {
        read(20_480, 24_576);
        awaitSettled();
        List<Part> parts = filler.plan(revision, 16_384, 30_000);
        assertEquals(3, parts.size(), parts.toString());
        assertTrue(parts.get(0) instanceof Fetched f && !f.joined() && f.start() == 16_384 && f.end() == 20_480, parts.toString());
        assertEquals(new Cached(20_480, 24_576), parts.get(1));
        assertTrue(parts.get(2) instanceof Fetched f && f.start() == 24_576 && f.end() == 30_000
                && f.fetch().end == 32_768, "the last gap is fetched to its block's end: " + parts);
        ByteBuffer bytes = ByteBuffer.allocate(30_000 - 16_384);
        for (Part part : parts) {
            bytes.put(filler.bytes(revision, part).block(Duration.ofSeconds(10)));
        }
        assertArrayEquals(Arrays.copyOfRange(image, 16_384, 30_000), bytes.array());
        assertEquals(BLOCK + 4096 + 8192, fetchedBytes());
    }

    @Test
    void aReaderJoinsAFetchOfAnotherRangeThatCoversItsBytes() {
        List<Part> first = filler.plan(revision, 100_000, 200_000);
        // While that runs (or just after), a read inside it and one that overlaps its end.
        List<Part> inside = filler.plan(revision, 150_000, 150_010);
        List<Part> overlapping = filler.plan(revision, 190_000, 210_000);
        List<Part> all = new ArrayList<>(first);
        all.addAll(inside);
        all.addAll(overlapping);
        for (Part part : all) {
            ByteBuffer bytes = filler.bytes(revision, part).block(Duration.ofSeconds(10));
            byte[] got = new byte[bytes.remaining()];
            bytes.get(got);
            assertArrayEquals(Arrays.copyOfRange(image, (int) part.start(), (int) part.end()), got, part.toString());
        }
        long firstBlock = 100_000 / BLOCK * BLOCK;
        long lastEnd = (210_000 + BLOCK - 1) / BLOCK * BLOCK;
        assertEquals(lastEnd - firstBlock, fetchedBytes(), "each block crossed the uplink once");
        // Planned while the first fetch was in flight or already stored: joined or read from disk, never fetched.
        assertTrue(inside.stream().allMatch(p -> p instanceof Cached || (p instanceof Fetched f && f.joined())), inside.toString());
    }

    @Test
    void aLongRangeIsSplitOnTheFetchSizeGridAndTheShortLastBlockIsRight() {
        List<Part> parts = filler.plan(revision, 30_000, SIZE);
        for (Part part : parts) {
            Fetch fetch = ((Fetched) part).fetch();
            assertTrue(fetch.length() <= FETCH, fetch.toString());
            assertTrue(fetch.end % FETCH == 0 || fetch.end == SIZE, "pieces end on the grid: " + fetch);
        }
        ByteBuffer all = ByteBuffer.allocate(SIZE - 30_000);
        for (Part part : parts) {
            all.put(filler.bytes(revision, part).block(Duration.ofSeconds(10)));
        }
        assertArrayEquals(Arrays.copyOfRange(image, 30_000, SIZE), all.array());
        awaitSettled();
        assertEquals(SIZE - 28_672, revision.cachedBytes(), "from the block of byte 30,000 to the end");
        assertFalse(revision.complete());
        read(0, 30_000);
        awaitSettled();
        assertTrue(revision.complete());
        assertEquals(SIZE, revision.cachedBytes());
        assertEquals(SIZE, fetchedBytes());
    }

    @Test
    void fillCompletesOnceTheBytesAreStored() {
        long bytes = filler.fill(revision, 0, 3 * FETCH).block(Duration.ofSeconds(10));
        assertEquals(3 * FETCH, bytes);
        assertTrue(revision.allPresent(0, 3 * FETCH - 1), "present when fill completes, not later");
        assertEquals(0L, filler.fill(revision, 0, 3 * FETCH).block(Duration.ofSeconds(10)), "nothing left to fetch");
    }
}
