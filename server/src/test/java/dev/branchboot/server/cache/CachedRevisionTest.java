package dev.branchboot.server.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.branchboot.server.cache.CacheFiller.Cached;
import dev.branchboot.server.cache.CacheFiller.Fetched;
import dev.branchboot.server.cache.CacheFiller.Part;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.testing.TestProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.server.upstream.UpstreamRevision;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * One cached revision on disk: what its class doc promises beyond what the filler, format and
 * directory tests show. Stored blocks and their bytes survive a clean close and reopen; a presence
 * mark reaches disk only with the presence file, so a crash before it loses the mark, never trusts
 * bytes; a block whose bytes rotted on disk fails its checksum, is dropped and fetched again
 * rather than served, also when the check runs after an unclean shutdown; the short last block is
 * stored, counted and checked at its real length; stores must be whole blocks; a presence file
 * that is damaged or written for another block size starts the revision over; a revision in use
 * is not evicted; a revision the cache could not create refuses every store.
 */
class CachedRevisionTest {
    private static final int BLOCK = 4096;
    private static final int SIZE = 10 * BLOCK + 1000; // eleven blocks, the last one 1000 bytes
    private static final long LAST = 10L * BLOCK;
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path temp;
    private byte[] image;
    private Path origin;
    private SimpleMeterRegistry registry;
    private CacheMetrics metrics;
    private UpstreamClient upstreams;
    private CacheDirectory directory;
    private UpstreamRevision described;

    @BeforeEach
    void open() throws IOException {
        image = new byte[SIZE];
        new Random(18).nextBytes(image);
        origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), image);
        registry = new SimpleMeterRegistry();
        metrics = new CacheMetrics(registry);
        upstreams = new UpstreamClient(properties(BLOCK), registry);
        directory = new CacheDirectory(properties(BLOCK), metrics, registry);
        described = upstreams.describe("disk.raw").block(WAIT);
    }

    @AfterEach
    void close() {
        directory.close();
    }

    private BranchbootProperties properties(int blockSize) {
        return TestProperties.of("upstreams", origin.toUri().toString(), "cache.dir", temp.resolve("cache").toString(),
                "cache.block-size", blockSize + "B", "cache.fetch-size", "64KB", "cache.scrub-interval", "0s");
    }

    /** Closes the cache directory as a stopping server does and opens it again with blocks of {@code blockSize}. */
    private CachedRevision reopen(int blockSize) throws IOException {
        directory.close();
        openDirectory(blockSize);
        return directory.find("disk.raw", described.etag()).orElseThrow();
    }

    /** Opens the cache directory, with metrics of its own, as a starting server does. */
    private void openDirectory(int blockSize) throws IOException {
        registry = new SimpleMeterRegistry();
        metrics = new CacheMetrics(registry);
        directory = new CacheDirectory(properties(blockSize), metrics, registry);
    }

    private byte[] origin(long offset, int length) {
        return Arrays.copyOfRange(image, (int) offset, (int) offset + length);
    }

    private void store(CachedRevision revision, long offset, int length) throws IOException {
        revision.store(offset, origin(offset, length));
    }

    private static byte[] bytes(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.get(bytes);
        return bytes;
    }

    /** Changes one byte of {@code file} in place, as a failing disk does. */
    private static void rot(Path file, long offset) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, offset);
            one.put(0, (byte) (one.get(0) ^ 0x5a));
            one.rewind();
            channel.write(one, offset);
        }
    }

    private static int crc32c(byte[] bytes) {
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        return (int) crc.getValue();
    }

    @Test
    void storedBlocksAndTheirBytesSurviveACleanCloseAndReopen() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 0, 2 * BLOCK);
        store(revision, 5L * BLOCK, BLOCK);
        store(revision, LAST, 1000);

        CachedRevision reopened = reopen(BLOCK);

        assertEquals(revision.id(), reopened.id());
        assertEquals(4, reopened.presentBlocks());
        assertEquals(3L * BLOCK + 1000, reopened.cachedBytes());
        assertTrue(reopened.allPresent(0, 2L * BLOCK - 1));
        assertFalse(reopened.isPresent(2L * BLOCK));
        assertTrue(reopened.isPresent(5L * BLOCK));
        assertFalse(reopened.anyPresent(6L * BLOCK, 4 * BLOCK));
        assertTrue(reopened.isPresent(SIZE - 1));
        assertArrayEquals(origin(0, 2 * BLOCK), bytes(reopened.read(0, 2 * BLOCK)));
        assertArrayEquals(origin(5L * BLOCK, BLOCK), bytes(reopened.read(5L * BLOCK, BLOCK)));
        assertArrayEquals(origin(LAST, 1000), bytes(reopened.read(LAST, 1000)));
        assertTrue(reopened.verified(), "after a clean shutdown nothing needs checking before it is served");
        assertEquals(reopened, directory.lastKnown("disk.raw").orElseThrow(), "the name still means this revision");
        assertEquals(0, reopened.verify(0, SIZE).length, "every stored byte still matches its checksum");
    }

    @Test
    void aMarkReachesTheDiskOnlyWithThePresenceFileSoACrashBeforeItForgetsTheBlock() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 3L * BLOCK, BLOCK);
        assertTrue(revision.isPresent(3L * BLOCK));

        // What a restart would read if the server died now: the block is fetched again, never trusted unwritten.
        CachedRevision crashedNow = CachedRevision.open(revision.id(), described, revision.dir(), BLOCK, false);
        assertEquals(0, crashedNow.presentBlocks());
        crashedNow.close();

        revision.persistState();
        CachedRevision crashedLater = CachedRevision.open(revision.id(), described, revision.dir(), BLOCK, false);
        assertEquals(1, crashedLater.presentBlocks());
        assertTrue(crashedLater.isPresent(3L * BLOCK));
        crashedLater.close();

        revision.drop(3L * BLOCK);
        assertFalse(revision.isPresent(3L * BLOCK));
        revision.persistState();
        CachedRevision afterDrop = CachedRevision.open(revision.id(), described, revision.dir(), BLOCK, true);
        assertEquals(0, afterDrop.presentBlocks(), "a drop reaches the disk the same way");
        afterDrop.close();
    }

    @Test
    void theShortLastBlockIsStoredCountedAndCheckedAtItsRealLength() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        assertEquals(11, revision.blockCount());
        assertEquals(SIZE, Files.size(revision.dataFile()), "the data file is the image's length, not rounded up to a block");

        store(revision, LAST, 1000);

        assertEquals(1000, revision.cachedBytes());
        assertEquals(SIZE, revision.presentRunEnd(LAST), "the run ends at the image's end");
        try (FileChannel sums = FileChannel.open(revision.dir().resolve(CachedRevision.SUMS_FILE))) {
            assertEquals(44, sums.size(), "four bytes per block");
            ByteBuffer sum = ByteBuffer.allocate(4);
            sums.read(sum, 4L * 10);
            assertEquals(crc32c(origin(LAST, 1000)), sum.getInt(0), "the CRC32C of the 1000 bytes, not of a padded block");
        }
        rot(revision.dataFile(), SIZE - 1);
        assertArrayEquals(new long[] {LAST}, revision.verify(LAST, BLOCK), "its last byte is covered by the check");
        assertFalse(revision.isPresent(LAST));
        assertEquals(0, revision.cachedBytes());

        store(revision, 0, SIZE);
        assertTrue(revision.complete());
        assertEquals(SIZE, revision.cachedBytes());
    }

    @Test
    void aStoreMustCoverWholeBlocksOrEndAtTheImagesEnd() throws IOException {
        CachedRevision revision = directory.revisionFor(described);

        IllegalArgumentException offCentre = assertThrows(IllegalArgumentException.class, () -> store(revision, 100, BLOCK));
        assertEquals("bytes 100..4195 of revision " + revision.id() + " are not whole blocks of 4096", offCentre.getMessage());
        assertThrows(IllegalArgumentException.class, () -> store(revision, 0, BLOCK - 1));
        assertThrows(IllegalArgumentException.class, () -> store(revision, LAST, 999), "short of the image's end");
        assertThrows(IllegalArgumentException.class, () -> revision.store(LAST, new byte[1001]), "past the image's end");

        assertEquals(0, revision.presentBlocks());
        assertArrayEquals(new byte[SIZE], Files.readAllBytes(revision.dataFile()), "nothing was written");
    }

    @Test
    void aBlockThatRottedOnDiskFailsTheCheckAndIsFetchedAgainInsteadOfServed() throws IOException {
        BranchbootProperties properties = properties(BLOCK);
        CacheFiller filler = new CacheFiller(upstreams, new SignedManifests(properties, upstreams, registry), metrics, properties);
        CachedRevision revision = directory.revisionFor(described);
        filler.fill(revision, 0, SIZE).block(WAIT);
        assertTrue(revision.complete());
        rot(revision.dataFile(), 3L * BLOCK + 17);

        assertArrayEquals(new long[] {3L * BLOCK}, revision.verify(0, SIZE));

        assertFalse(revision.isPresent(3L * BLOCK));
        assertEquals(10, revision.presentBlocks(), "only that block");
        List<Part> parts = filler.plan(revision, 2L * BLOCK, 5L * BLOCK);
        assertEquals(3, parts.size(), parts.toString());
        assertEquals(new Cached(2L * BLOCK, 3L * BLOCK), parts.get(0));
        assertTrue(parts.get(1) instanceof Fetched f && f.start() == 3L * BLOCK && f.end() == 4L * BLOCK, parts.toString());
        assertEquals(new Cached(4L * BLOCK, 5L * BLOCK), parts.get(2));
        assertArrayEquals(origin(3L * BLOCK, BLOCK), bytes(filler.bytes(revision, parts.get(1)).block(WAIT)));
        Awaitility.await("the block to be stored again").atMost(WAIT).until(revision::complete);
        assertEquals(SIZE + BLOCK, registry.get("branchboot.cache.fill").counter().count(), "the image, then that block");
        assertEquals(0, revision.verify(0, SIZE).length);
        assertArrayEquals(image, Files.readAllBytes(revision.dataFile()));
    }

    @Test
    void anAbsentBlockIsNotCheckedItHasNoChecksum() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 2L * BLOCK, BLOCK);
        rot(revision.dataFile(), 0); // block 0 was never stored: whatever is there is not served

        assertEquals(0, revision.verify(0, SIZE).length);
        assertEquals(1, revision.presentBlocks());
    }

    @Test
    void afterAnUncleanShutdownBlocksAreCheckedBeforeUseAndTheRottedOneStaysDropped() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 0, SIZE);
        directory.close();
        Files.delete(temp.resolve("cache/clean-shutdown")); // as if the server had died after its last persist
        rot(revision.dataFile(), 7L * BLOCK);

        openDirectory(BLOCK);
        CachedRevision unchecked = directory.find("disk.raw", described.etag()).orElseThrow();
        assertFalse(unchecked.verified());
        assertEquals(11, unchecked.presentBlocks(), "trusted by nobody yet, but not forgotten");
        // The scrub interval is 0: the scrubber never asks for its scheduler.
        CacheScrubber scrubber = new CacheScrubber(directory, metrics, new SignedManifests(properties(BLOCK), upstreams,
                registry), properties(BLOCK), null);
        scrubber.ensureVerified(unchecked);

        assertTrue(unchecked.verified());
        assertFalse(unchecked.isPresent(7L * BLOCK));
        assertEquals(10, unchecked.presentBlocks());
        assertEquals(1, metrics.checksumFailures.count());
        assertFalse(reopen(BLOCK).isPresent(7L * BLOCK), "the drop was written to the presence file");
    }

    @Test
    void aDamagedPresenceFileStartsTheRevisionOverRatherThanBeTrusted() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 0, SIZE);
        directory.close();
        Path presence = revision.dir().resolve(CachedRevision.PRESENCE_FILE);
        rot(presence, 13);

        IOException refused = assertThrows(IOException.class,
                () -> CachedRevision.open(revision.id(), described, revision.dir(), BLOCK, true));
        assertEquals("presence file checksum mismatch", refused.getMessage());

        Logger logger = (Logger) LoggerFactory.getLogger(CacheDirectory.class);
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        log.start();
        logger.addAppender(log);
        try {
            openDirectory(BLOCK);
        } finally {
            logger.detachAppender(log);
        }
        CachedRevision startedOver = directory.find("disk.raw", described.etag()).orElseThrow();
        assertEquals(0, startedOver.presentBlocks());
        assertTrue(log.list.stream().map(ILoggingEvent::getFormattedMessage).anyMatch(line -> line.equals("Cached revision "
                + revision.id() + " of image 'disk.raw': presence unreadable (presence file checksum mismatch); its blocks will "
                + "be fetched again")), log.list.toString());
    }

    @Test
    void aRevisionCachedInBlocksOfAnotherSizeStartsOver() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 0, SIZE);
        directory.close();

        IOException refused = assertThrows(IOException.class,
                () -> CachedRevision.open(revision.id(), described, revision.dir(), 2 * BLOCK, true));
        assertEquals("presence for " + SIZE + " bytes in blocks of 4096, expected " + SIZE + " in blocks of 8192",
                refused.getMessage());

        CachedRevision startedOver = reopen(2 * BLOCK);
        assertEquals(2 * BLOCK, startedOver.blockSize());
        assertEquals(6, startedOver.blockCount());
        assertEquals(0, startedOver.presentBlocks(), "no 4 KiB checksum is read as an 8 KiB one");
    }

    @Test
    void aRevisionInUseIsNotEvictedAndAnEvictedOneCannotBeUsed() throws IOException {
        CachedRevision revision = directory.revisionFor(described);
        store(revision, 0, BLOCK);
        Path dir = revision.dir();

        assertTrue(revision.acquire());
        assertTrue(revision.inUse());
        assertFalse(directory.evict(revision, "the test"));
        assertTrue(Files.isDirectory(dir));
        assertEquals(revision, directory.find("disk.raw", described.etag()).orElseThrow());

        revision.release();
        assertFalse(revision.inUse());
        assertTrue(directory.evict(revision, "the test"));
        assertFalse(Files.exists(dir), "data, checksums and presence deleted");
        assertTrue(directory.find("disk.raw", described.etag()).isEmpty());
        assertEquals(1, metrics.evictions.count());
        assertFalse(revision.acquire(), "a reader holding the old object must look the revision up again");
        assertFalse(revision.inUse());
    }

    @Test
    void aRevisionTheCacheCouldNotCreateRefusesEveryStoreAndHoldsNothing() throws IOException {
        CachedRevision uncached = CachedRevision.uncached("id", described, BLOCK);

        assertFalse(uncached.onDisk());
        assertNull(uncached.dataFile());
        IOException refused = assertThrows(IOException.class, () -> store(uncached, 0, BLOCK));
        assertEquals("revision id of image 'disk.raw' could not be created in the cache", refused.getMessage());
        assertEquals("revision id of image 'disk.raw' is not in the cache",
                assertThrows(IOException.class, () -> uncached.read(0, BLOCK)).getMessage());
        assertEquals(0, uncached.presentBlocks());
        assertEquals(0, uncached.verify(0, SIZE).length);
        uncached.persistState();
        uncached.close();
    }

    @Test
    void anImageOfMoreBlocksThanAnIntCountsIsRefusedNamingTheSetting() {
        assertEquals(Integer.MAX_VALUE, CachedRevision.blockCount(512L * Integer.MAX_VALUE, 512));
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> CachedRevision.blockCount(512L * Integer.MAX_VALUE + 1, 512));
        assertTrue(refused.getMessage().endsWith("raise branchboot.cache.block-size"), refused.getMessage());
    }
}
