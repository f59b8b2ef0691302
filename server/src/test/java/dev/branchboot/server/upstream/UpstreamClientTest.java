package dev.branchboot.server.upstream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.upstream.UpstreamException.Kind;
import dev.branchboot.server.testing.TestProperties;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The branch's way to its upstreams, without a server: {@code file:} upstreams are folders this
 * test creates, removes and rewrites, an unmounted folder is an upstream that is down. Proves the
 * failover order (every call asks the first upstream first), that retries stop after
 * {@code cache.fetch-attempts} attempts of every upstream, that a changed or vanished revision
 * fails at once instead of being retried, that bytes failing a caller's check count against the
 * upstream that sent them, what the failures say, and the metrics each outcome counts.
 *
 * <p>{@link UpstreamClient} builds its {@link Upstream}s from the settings and takes no others,
 * so a fake {@code Upstream} cannot be given to it; real {@code file:} upstreams are the seam.
 */
class UpstreamClientTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final int SIZE = 100_000;

    @TempDir
    Path temp;
    private byte[] image;
    private SimpleMeterRegistry registry;

    @BeforeEach
    void createImage() {
        image = new byte[SIZE];
        new Random(18).nextBytes(image);
        registry = new SimpleMeterRegistry();
    }

    /** A client of these upstreams (in order) with a 1 ms backoff, so retries cost no test time. */
    private UpstreamClient client(int fetchAttempts, URI... upstreams) {
        String list = String.join(",", Arrays.stream(upstreams).map(URI::toString).toList());
        return new UpstreamClient(TestProperties.of("upstreams", list, "cache.fetch-attempts", Integer.toString(fetchAttempts),
                "cache.retry-backoff", "1ms"), registry);
    }

    /** A folder of images holding {@code disk.raw} with {@code bytes}, modified at {@code modified}. */
    private URI folderWith(String folder, byte[] bytes, Instant modified) throws IOException {
        Path dir = Files.createDirectories(temp.resolve(folder));
        Path file = dir.resolve("disk.raw");
        Files.write(file, bytes);
        Files.setLastModifiedTime(file, FileTime.from(modified));
        return dir.toUri();
    }

    /** An upstream folder that does not exist, as an NFS mount that is not mounted. */
    private URI unmounted(String folder) {
        return temp.resolve(folder).toUri();
    }

    /** An HTTP upstream on a port of 127.0.0.1 that was free a moment ago: connections to it are refused at once. */
    private static URI refusingHttpUpstream() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return URI.create("http://127.0.0.1:" + socket.getLocalPort() + "/images");
        }
    }

    private long errors(URI upstream, Kind kind) {
        Counter counter = registry.find("branchboot.upstream.errors").tag("upstream", upstream.toString())
                .tag("kind", kind.name().toLowerCase(java.util.Locale.ROOT)).counter();
        return counter == null ? 0 : (long) counter.count();
    }

    private long allErrors() {
        return (long) registry.find("branchboot.upstream.errors").counters().stream().mapToDouble(Counter::count).sum();
    }

    private long bytesFrom(URI upstream) {
        Counter counter = registry.find("branchboot.upstream").tag("upstream", upstream.toString()).counter();
        return counter == null ? 0 : (long) counter.count();
    }

    private long timedFetches(URI upstream) {
        Timer timer = registry.find("branchboot.upstream.fetch.latency").tag("upstream", upstream.toString()).timer();
        return timer == null ? 0 : timer.count();
    }

    private static UpstreamException failure(Runnable call) {
        return assertThrows(UpstreamException.class, call::run);
    }

    @Test
    void aDownUpstreamIsPassedOverAndStillAskedFirstByEveryLaterCall() throws IOException {
        Instant modified = Instant.parse("2026-11-24T10:00:00Z");
        URI first = unmounted("first");
        URI second = folderWith("second", image, modified);
        UpstreamClient client = client(4, first, second);

        UpstreamRevision described = client.describe("disk.raw").block(WAIT);
        assertEquals(second, described.upstream());
        assertEquals(dev.branchboot.server.http.EntityTags.ofFile("disk.raw", modified, SIZE), described.etag(),
                "the origin's ETag of the file");
        assertEquals(SIZE, described.size());
        assertEquals(modified, described.lastModified());
        assertEquals(1, errors(first, Kind.IO));

        assertEquals(second, client.describe("disk.raw").block(WAIT).upstream());
        assertEquals(2, errors(first, Kind.IO), "the second call asked the first upstream again, no memory of its outage");

        folderWith("first", image, modified);
        assertEquals(first, client.describe("disk.raw").block(WAIT).upstream(), "back up, the first upstream answers first");
        assertEquals(2, errors(first, Kind.IO));
        assertEquals(0, allErrors() - errors(first, Kind.IO), "nothing else failed: " + registry.getMetersAsString());
    }

    @Test
    void aFetchIsServedByTheFirstUpstreamThatStillHasTheRevision() throws IOException {
        Instant modified = Instant.parse("2026-11-24T10:00:00Z");
        URI first = Files.createDirectories(temp.resolve("first")).toUri();
        URI second = folderWith("second", image, modified);
        UpstreamClient client = client(4, first, second);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);
        assertEquals(second, described.upstream());
        assertEquals(1, errors(first, Kind.NOT_FOUND));

        // The first upstream now has another revision of the name, as in the middle of a rollout.
        folderWith("first", Arrays.copyOf(image, SIZE + 1), modified);
        byte[] bytes = client.fetch(described, 4096, 8192).block(WAIT);

        assertArrayEquals(Arrays.copyOfRange(image, 4096, 4096 + 8192), bytes);
        assertEquals(1, errors(first, Kind.REVISION_GONE), "asked first, it no longer has that revision");
        assertEquals(0, bytesFrom(first));
        assertEquals(8192, bytesFrom(second));
        assertEquals(0, timedFetches(first));
        assertEquals(1, timedFetches(second));
        assertEquals(2, allErrors(), "only those two failures: " + registry.getMetersAsString());
    }

    @Test
    void retriesStopAfterTheConfiguredAttemptsOfEveryUpstreamWithTheLastFailure() {
        URI first = unmounted("first");
        URI second = unmounted("second");
        UpstreamClient client = client(3, first, second);

        UpstreamException failure = failure(() -> client.describe("disk.raw").block(WAIT));

        assertEquals(Kind.IO, failure.kind());
        assertTrue(failure.retryable());
        assertEquals(second, failure.upstream(), "the last upstream asked in the last attempt");
        assertTrue(failure.getMessage().endsWith("[upstream " + second + ", IO]"), failure.getMessage());
        assertEquals(3, errors(first, Kind.IO), "three attempts, each asking both upstreams");
        assertEquals(3, errors(second, Kind.IO));
        assertEquals(6, allErrors());
    }

    @Test
    void oneAttemptMeansNoRetry() throws IOException {
        URI upstream = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(1, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);

        // A range the file does not hold: a retryable fault, but there is no second attempt.
        UpstreamException failure = failure(() -> client.fetch(described, SIZE - 10, 100).block(WAIT));

        assertEquals(Kind.WRONG_LENGTH, failure.kind());
        assertTrue(failure.retryable());
        assertEquals("range " + (SIZE - 10) + "-" + (SIZE + 89) + " of image 'disk.raw' revision " + described.etag()
                + ": the file ended at " + SIZE + " [upstream " + upstream + ", WRONG_LENGTH]", failure.getMessage());
        assertEquals(1, errors(upstream, Kind.WRONG_LENGTH));
        assertEquals(0, bytesFrom(upstream));
    }

    @Test
    void aRetryableFaultIsRetriedUpToTheAttemptsAndNoFurther() throws IOException {
        URI upstream = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(4, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);

        UpstreamException failure = failure(() -> client.fetch(described, SIZE - 10, 100).block(WAIT));

        assertEquals(Kind.WRONG_LENGTH, failure.kind());
        assertEquals(4, errors(upstream, Kind.WRONG_LENGTH));
    }

    @Test
    void aRevisionReplacedSinceItWasDescribedFailsAtOnceWithoutRetry() throws IOException {
        Instant modified = Instant.parse("2026-11-24T10:00:00Z");
        URI upstream = folderWith("images", image, modified);
        UpstreamClient client = client(4, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);
        folderWith("images", Arrays.copyOf(image, SIZE + 4096), modified.plusSeconds(60));
        String now = client.describe("disk.raw").block(WAIT).etag();

        UpstreamException failure = failure(() -> client.fetch(described, 0, 4096).block(WAIT));

        assertEquals(Kind.REVISION_GONE, failure.kind());
        assertEquals("range 0-4095 of image 'disk.raw' revision " + described.etag() + ": the file is now revision " + now
                + " [upstream " + upstream + ", REVISION_GONE]", failure.getMessage());
        assertEquals(1, errors(upstream, Kind.REVISION_GONE), "another revision does not come back by retrying");
        assertEquals(1, allErrors());
        assertEquals(0, bytesFrom(upstream), "no byte of the new file handed out as the old revision's");
    }

    @Test
    void aRevisionWhoseFileWasDeletedIsNotFoundAtOnceWithoutRetry() throws IOException {
        URI upstream = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(4, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);
        Files.delete(Path.of(upstream).resolve("disk.raw"));

        UpstreamException failure = failure(() -> client.fetch(described, 0, 4096).block(WAIT));

        assertEquals(Kind.NOT_FOUND, failure.kind());
        assertTrue(failure.getMessage().startsWith("image 'disk.raw' not found: "), failure.getMessage());
        assertTrue(failure.getMessage().endsWith(" [upstream " + upstream + ", NOT_FOUND]"), failure.getMessage());
        assertEquals(1, errors(upstream, Kind.NOT_FOUND));
        assertEquals(1, allErrors());
    }

    @Test
    void anImageNoUpstreamHasIsNotFoundAfterAskingEachOnce() throws IOException {
        URI first = folderWith("first", image, Instant.parse("2026-11-24T10:00:00Z"));
        URI second = folderWith("second", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(4, first, second);

        UpstreamException failure = failure(() -> client.describe("other.raw").block(WAIT));

        assertEquals(Kind.NOT_FOUND, failure.kind());
        assertEquals(second, failure.upstream());
        assertTrue(failure.getMessage().startsWith("image 'other.raw' not found: "), failure.getMessage());
        assertEquals(1, errors(first, Kind.NOT_FOUND));
        assertEquals(1, errors(second, Kind.NOT_FOUND));
    }

    @Test
    void aNameNoUpstreamHasIsRememberedBrieflyAndAnImagePublishedUnderItAppearsAfterThat() throws IOException {
        URI first = folderWith("first", image, Instant.parse("2026-11-24T10:00:00Z"));
        URI second = folderWith("second", image, Instant.parse("2026-11-24T10:00:00Z"));
        // The revalidate interval bounds the memory when it is shorter than NOT_FOUND_TTL: 300 ms here.
        UpstreamClient client = new UpstreamClient(TestProperties.of("upstreams", first + "," + second,
                "cache.revalidate-interval", "300ms"), registry);

        for (int i = 0; i < 20; i++) {
            UpstreamException failure = failure(() -> client.describe("new.raw").block(WAIT));
            assertEquals(Kind.NOT_FOUND, failure.kind());
            assertTrue(failure.getMessage().startsWith("image 'new.raw' not found: "), failure.getMessage());
        }
        assertEquals(1, errors(first, Kind.NOT_FOUND), "each upstream was asked once for 20 look-ups");
        assertEquals(1, errors(second, Kind.NOT_FOUND));
        assertEquals(19, registry.get("branchboot.upstream.not.found.cache.hits").counter().count());

        Files.write(Path.of(first).resolve("new.raw"), image);
        long published = System.nanoTime();
        org.awaitility.Awaitility.await("the published image").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                .ignoreExceptions().until(() -> client.describe("new.raw").block(WAIT) != null);
        long millis = (System.nanoTime() - published) / 1_000_000;
        assertTrue(millis < 2_000, "the image appeared " + millis + " ms after it was published, remembered 300 ms");
    }

    @Test
    void anImageMissingWhileAnotherUpstreamIsDownIsRetriedAndReportedAsTheOutage() throws IOException {
        // The down upstream may be the one that has it: "not found" from the others is not the answer yet.
        URI down = unmounted("down");
        URI without = folderWith("without", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(3, without, down);

        UpstreamException failure = failure(() -> client.describe("other.raw").block(WAIT));

        assertEquals(Kind.IO, failure.kind());
        assertEquals(down, failure.upstream());
        assertEquals(3, errors(without, Kind.NOT_FOUND));
        assertEquals(3, errors(down, Kind.IO));
    }

    @Test
    void bytesThatFailTheCheckAreThatUpstreamsFaultAndTheNextUpstreamServesThem() throws IOException {
        Instant modified = Instant.parse("2026-11-24T10:00:00Z");
        URI first = folderWith("first", image, modified);
        URI second = folderWith("second", image, modified);
        UpstreamClient client = client(4, first, second);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);
        List<Long> checked = new ArrayList<>();
        AtomicInteger calls = new AtomicInteger();

        byte[] bytes = client.fetch(described, 8192, 4096, (offset, fetched) -> {
            checked.add(offset);
            return calls.getAndIncrement() == 0 ? "block 2 does not match the manifest" : null;
        }).block(WAIT);

        assertArrayEquals(Arrays.copyOfRange(image, 8192, 12_288), bytes);
        assertEquals(List.of(8192L, 8192L), checked, "checked once per upstream that answered");
        assertEquals(1, errors(first, Kind.INTEGRITY));
        assertEquals(0, bytesFrom(first), "refused bytes are not counted as fetched");
        assertEquals(4096, bytesFrom(second));
        assertEquals(1, allErrors());
    }

    @Test
    void bytesThatAlwaysFailTheCheckFailTheFetchNamingRangeImageRevisionAndProblem() throws IOException {
        URI upstream = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(2, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);

        UpstreamException failure = failure(() -> client.fetch(described, 0, 4096, (offset, fetched) -> "digest mismatch")
                .block(WAIT));

        assertEquals(Kind.INTEGRITY, failure.kind());
        assertTrue(failure.retryable(), "another upstream or a second try may send the right bytes");
        assertEquals("range 0-4095 of image 'disk.raw' revision " + described.etag() + ": digest mismatch [upstream " + upstream
                + ", INTEGRITY]", failure.getMessage());
        assertEquals(2, errors(upstream, Kind.INTEGRITY));
    }

    @Test
    void aCheckThatCannotReadCountsAsAFailedCheck() throws IOException {
        URI upstream = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(1, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);

        UpstreamException failure = failure(() -> client.fetch(described, 0, 4096, (offset, fetched) -> {
            throw new IOException("manifest page 0 unreadable");
        }).block(WAIT));

        assertEquals(Kind.INTEGRITY, failure.kind());
        assertTrue(failure.getMessage().contains(": cannot check them: manifest page 0 unreadable ["), failure.getMessage());
    }

    @Test
    void everyFetchedByteAndEveryFetchIsCountedForItsUpstream() throws IOException {
        URI upstream = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(4, upstream);
        UpstreamRevision described = client.describe("disk.raw").block(WAIT);

        assertArrayEquals(Arrays.copyOfRange(image, 0, 4096), client.fetch(described, 0, 4096).block(WAIT));
        assertArrayEquals(Arrays.copyOfRange(image, 90_000, SIZE), client.fetch(described, 90_000, 10_000).block(WAIT));
        assertArrayEquals(Arrays.copyOfRange(image, 50_000, 50_001), client.fetch(described, 50_000, 1).block(WAIT));

        assertEquals(14_097, bytesFrom(upstream));
        assertEquals("bytes", registry.get("branchboot.upstream").counter().getId().getBaseUnit());
        assertEquals(3, timedFetches(upstream));
        assertEquals(0, allErrors());
        assertNull(registry.find("branchboot.upstream.errors").counter(), "no error counter before the first error");
    }

    @Test
    void anHttpUpstreamThatRefusesConnectionsIsPassedOverAsUnreachable() throws IOException {
        URI refusing = refusingHttpUpstream();
        URI folder = folderWith("images", image, Instant.parse("2026-11-24T10:00:00Z"));
        UpstreamClient client = client(4, refusing, folder);

        UpstreamRevision described = client.describe("disk.raw").block(WAIT);
        byte[] bytes = client.fetch(described, 0, 4096).block(WAIT);

        assertEquals(folder, described.upstream());
        assertArrayEquals(Arrays.copyOf(image, 4096), bytes);
        assertEquals(2, errors(refusing, Kind.CONNECT), "the HEAD and the GET each tried it first");
        assertEquals(4096, bytesFrom(folder));
    }

    /**
     * {@link UpstreamException}'s contract: "the message names the image, revision, range, upstream
     * and cause, so the log line alone says what to check", also for the failures the client
     * classifies itself (a refused connection) and a {@code file:} upstream's unreadable folder.
     */
    @Test
    void everyFailureMessageNamesTheImageAndTheUpstream() throws IOException {
        URI refusing = refusingHttpUpstream();
        URI down = unmounted("down");
        for (URI upstream : List.of(refusing, down)) {
            UpstreamClient client = client(1, upstream);
            UpstreamRevision revision = new UpstreamRevision("disk.raw", "\"5f-1000\"", false, SIZE, null, null, upstream);
            UpstreamException failure = failure(() -> client.fetch(revision, 0, 4096).block(WAIT));
            assertTrue(failure.getMessage().contains(upstream.toString()), failure.getMessage());
            assertTrue(failure.getMessage().contains("'disk.raw'"), failure.getMessage());
            assertTrue(failure.getMessage().contains("0-4095"), failure.getMessage());
        }
    }

    @Test
    void aFailureAndTheMetricsNeverShowAnUpstreamsUserInfoOrQuery() throws IOException {
        // Refused at start-up (BranchbootProperties); should one get here all the same, nothing shows its secrets.
        URI refusing = refusingHttpUpstream();
        URI secret = URI.create("http://alice:s3cret@" + refusing.getAuthority() + "/images?token=s3cret");
        UpstreamException failure = failure(() -> client(1, secret).describe("disk.raw").block(WAIT));
        assertEquals(Kind.CONNECT, failure.kind());
        assertTrue(failure.getMessage().endsWith(" [upstream " + refusing + ", CONNECT]"), failure.getMessage());
        assertEquals(1, errors(refusing, Kind.CONNECT), "tagged without the secrets: " + registry.getMetersAsString());
        assertFalse(registry.getMetersAsString().contains("s3cret"), registry.getMetersAsString());
    }
}
