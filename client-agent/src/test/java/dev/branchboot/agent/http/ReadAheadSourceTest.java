package dev.branchboot.agent.http;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.qcow2.ByteSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ReadAheadSource} over a fake slow source that records every range fetched: the bytes
 * returned, what is fetched ahead and what is not, and that nothing is fetched twice.
 */
class ReadAheadSourceTest {
    private static final int SIZE = 16 << 20;
    private static final int MAX_AHEAD = 1 << 20;

    private final ExecutorService fetchers = Executors.newFixedThreadPool(4, r -> {
        Thread t = new Thread(r, "test-read-ahead");
        t.setDaemon(true);
        return t;
    });
    private final HttpStats stats = new HttpStats();

    @AfterEach
    void stopFetchers() {
        fetchers.shutdownNow();
    }

    private static byte expected(long offset) {
        return (byte) (offset * 31 + (offset >>> 13));
    }

    private static void assertBytesAt(long offset, ByteBuffer got) {
        byte[] want = new byte[got.remaining()];
        for (int i = 0; i < want.length; i++) {
            want[i] = expected(offset + i);
        }
        byte[] have = new byte[got.remaining()];
        got.duplicate().get(have);
        assertArrayEquals(want, have, "bytes at offset " + offset);
    }

    /** A source of {@link #expected} bytes that records what it was asked for, may be slow and may fail. */
    private static final class RecordingSource implements ByteSource {
        final byte[] timesFetched = new byte[SIZE];
        final List<long[]> fetches = new ArrayList<>();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger mostInFlight = new AtomicInteger();
        volatile long delayMillis;
        /** The first fetch starting at an offset this accepts fails; later ones do not. */
        volatile LongPredicate failOnce = offset -> false;
        private boolean failed;
        /** How long the failing fetch takes before it fails. */
        volatile long failAfterMillis;

        @Override
        public String name() {
            return "fake";
        }

        @Override
        public long size() {
            return SIZE;
        }

        @Override
        public int read(long position, ByteBuffer dst) throws IOException {
            int n = (int) Math.min(dst.remaining(), SIZE - position);
            mostInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                if (delayMillis > 0) {
                    Thread.sleep(delayMillis); // the network's latency this source stands in for
                }
                boolean failNow;
                synchronized (this) {
                    failNow = !failed && failOnce.test(position);
                    failed |= failNow;
                }
                if (failNow) {
                    Thread.sleep(failAfterMillis); // not holding the lock: other fetches go on meanwhile
                    throw new IOException("injected failure at " + position);
                }
                synchronized (this) {
                    fetches.add(new long[] {position, position + n, Thread.currentThread().getName().startsWith("test-read-ahead") ? 1 : 0});
                    for (int i = 0; i < n; i++) {
                        timesFetched[(int) position + i]++;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            } finally {
                inFlight.decrementAndGet();
            }
            for (int i = 0; i < n; i++) {
                dst.put(expected(position + i));
            }
            return n;
        }

        synchronized boolean failed() {
            return failed;
        }

        synchronized int mostTimesFetched() {
            int most = 0;
            for (byte b : timesFetched) {
                most = Math.max(most, b);
            }
            return most;
        }

        /** The fetches (start-end, W for a window, D for a direct read) of the first byte fetched twice. */
        synchronized String twiceFetched() {
            for (int i = 0; i < timesFetched.length; i++) {
                if (timesFetched[i] > 1) {
                    long at = i;
                    StringBuilder out = new StringBuilder("byte " + at + " by");
                    fetches.stream().filter(f -> f[0] <= at && at < f[1])
                            .forEach(f -> out.append(' ').append(f[2] == 1 ? 'W' : 'D').append(f[0]).append('-').append(f[1]));
                    return out.toString();
                }
            }
            return "none";
        }

        synchronized long bytesFetched() {
            return fetches.stream().mapToLong(f -> f[1] - f[0]).sum();
        }

        synchronized List<long[]> fetchesCopy() {
            return new ArrayList<>(fetches);
        }

        @Override
        public void close() {
        }
    }

    private ReadAheadSource over(RecordingSource source) throws IOException {
        return new ReadAheadSource(source, MAX_AHEAD, stats, fetchers);
    }

    @Test
    void aSequentialReadGetsItsBytesFetchesEachByteOnceAndIsServedAhead() throws Exception {
        RecordingSource source = new RecordingSource();
        source.delayMillis = 1;
        ReadAheadSource ahead = over(source);
        int step = 48 << 10; // not a divisor of the window size: reads straddle windows
        for (long at = 0; at < SIZE; at += step) {
            ByteBuffer dst = ByteBuffer.allocate((int) Math.min(step, SIZE - at));
            assertEquals(dst.capacity(), ahead.read(at, dst));
            dst.flip();
            assertBytesAt(at, dst);
        }
        assertEquals(1, source.mostTimesFetched(), "some byte was fetched twice");
        assertEquals(SIZE, source.bytesFetched());
        assertTrue(stats.readAheadHits() > SIZE / step / 2, stats.readAheadHits() + " reads served from read-ahead");
        assertTrue(source.mostInFlight.get() > 1, "windows were never fetched in parallel with the reader");
    }

    @Test
    void aStreamRunningIntoBytesFetchedBeforeFetchesNoneOfThemAgain() throws Exception {
        RecordingSource source = new RecordingSource();
        ReadAheadSource ahead = over(source);
        // A boot's scattered reads fetch pieces of a region, then a stream reads through it.
        long[][] scattered = {{3_000_000, 3_040_000}, {3_500_000, 3_600_000}, {4_100_000, 4_110_000}};
        for (long[] r : scattered) {
            ByteBuffer dst = ByteBuffer.allocate((int) (r[1] - r[0]));
            ahead.read(r[0], dst);
        }
        int step = 16 << 10;
        for (long at = 2_000_000; at < 5_000_000; at += step) {
            ByteBuffer dst = ByteBuffer.allocate(step);
            ahead.read(at, dst);
            dst.flip();
            assertBytesAt(at, dst);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> source.inFlight.get() == 0);
        // (A read that asks for them again gets them again: the reader above had not kept them.)
        long windows = 0;
        for (long[] f : source.fetchesCopy()) {
            if (f[2] != 1) {
                continue;
            }
            windows += f[1] - f[0];
            for (long[] r : scattered) {
                assertTrue(f[1] <= r[0] || f[0] >= r[1], "bytes " + r[0] + "-" + r[1] + " fetched before were fetched "
                        + "again by the window " + f[0] + "-" + f[1]);
            }
        }
        assertTrue(windows > 1_000_000, "the stream read ahead: " + windows + " bytes in windows");
    }

    @Test
    void windowBytesNoReadUsedAreCountedAsWaste() throws Exception {
        RecordingSource source = new RecordingSource();
        ReadAheadSource ahead = over(source);
        // Streams that stop after starting read-ahead, each far from the others: their windows go unread.
        int step = 64 << 10;
        for (int stream = 0; stream < 12; stream++) {
            long base = stream * (1L << 20) + 256L;
            for (int i = 0; i < 6; i++) {
                ahead.read(base + (long) i * step, ByteBuffer.allocate(step));
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> source.inFlight.get() == 0);
        long windowBytes = source.fetchesCopy().stream().filter(f -> f[2] == 1).mapToLong(f -> f[1] - f[0]).sum();
        assertEquals(windowBytes, stats.readAheadFetched());
        assertTrue(stats.readAheadFetched() > 0, "read-ahead started");
        assertTrue(stats.readAheadUnused() > 0 && stats.readAheadUnused() <= stats.readAheadFetched(),
                stats.readAheadUnused() + " unused of " + stats.readAheadFetched());
    }

    @Test
    void randomReadsFetchExactlyTheBytesAskedFor() throws Exception {
        RecordingSource source = new RecordingSource();
        ReadAheadSource ahead = over(source);
        Random random = new Random(7);
        List<long[]> asked = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            long at = random.nextInt(SIZE / 4096) * 4096L + random.nextInt(512);
            int length = 1 + random.nextInt(20_000);
            ByteBuffer dst = ByteBuffer.allocate(length);
            int got = ahead.read(at, dst);
            assertEquals(Math.min(length, SIZE - at), got);
            dst.flip();
            assertBytesAt(at, dst);
            asked.add(new long[] {at, at + got});
        }
        List<long[]> fetched = source.fetchesCopy();
        assertEquals(asked.size(), fetched.size(), "a random read started read-ahead");
        for (int i = 0; i < asked.size(); i++) {
            assertArrayEquals(asked.get(i), java.util.Arrays.copyOf(fetched.get(i), 2), "fetch " + i);
        }
    }

    @Test
    void severalReadersSharingASequentialRunNeverFetchAByteTwice() throws Exception {
        RecordingSource source = new RecordingSource();
        source.delayMillis = 2;
        ReadAheadSource ahead = over(source);
        int chunk = 256 << 10;
        AtomicLong next = new AtomicLong();
        ExecutorService readers = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                done.add(readers.submit(() -> {
                    for (long at; (at = next.getAndAdd(chunk)) < SIZE; ) {
                        ByteBuffer dst = ByteBuffer.allocateDirect(chunk);
                        ahead.read(at, dst);
                        dst.flip();
                        assertBytesAt(at, dst);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            readers.shutdownNow();
        }
        assertEquals(1, source.mostTimesFetched(), source::twiceFetched);
        assertEquals(SIZE, source.bytesFetched());
        assertTrue(stats.readAheadHits() > 0, "the shared run was never read ahead");
    }

    @Test
    void aWindowThatFailsFailsTheReadWaitingForItAndALaterReadFetchesItAgain() throws Exception {
        RecordingSource source = new RecordingSource();
        long failAt = 4 << 20;
        // Only a fetch starting within a window's length before failAt fails (once): by then the
        // run is read ahead, so that is a window, fetched in the background. It fails slowly, so
        // the reader is waiting for it by then.
        source.failOnce = offset -> offset <= failAt && failAt < offset + (MAX_AHEAD / 4);
        source.failAfterMillis = 500;
        ReadAheadSource ahead = over(source);
        int step = 64 << 10;
        IOException failure = null;
        for (long at = 0; at < failAt + step && failure == null; at += step) {
            try {
                ahead.read(at, ByteBuffer.allocate(step));
            } catch (IOException e) {
                failure = e;
            }
        }
        IOException seen = failure;
        assertTrue(seen != null && seen.getMessage().contains("injected failure"), "the window's failure reached no reader");
        ByteBuffer again = ByteBuffer.allocate(step);
        ahead.read(failAt, again);
        again.flip();
        assertBytesAt(failAt, again);
    }

    @Test
    void aWindowThatFailsBeforeAnyoneReadsItFailsNobody() throws Exception {
        RecordingSource source = new RecordingSource();
        long failAt = 4 << 20;
        source.failOnce = offset -> offset <= failAt && failAt < offset + (MAX_AHEAD / 4);
        ReadAheadSource ahead = over(source);
        int step = 64 << 10;
        for (long at = 0; at < failAt + (1 << 20); at += step) {
            if (at == failAt - (MAX_AHEAD / 2)) {
                // The window holding failAt is on its way by now: the reader lets it fail before it gets there.
                await("the read-ahead window holding offset " + failAt + " to fail").atMost(Duration.ofSeconds(30))
                        .pollInterval(Duration.ofMillis(5)).until(source::failed);
            }
            ByteBuffer dst = ByteBuffer.allocate(step);
            ahead.read(at, dst);
            dst.flip();
            assertBytesAt(at, dst);
        }
        assertTrue(source.failed(), "the injected failure never happened");
    }

    @Test
    void readsPastTheEndAreShortAndNoWindowGoesPastIt() throws Exception {
        RecordingSource source = new RecordingSource();
        ReadAheadSource ahead = over(source);
        int step = 128 << 10;
        for (long at = SIZE - 16L * step; at < SIZE; at += step) {
            ahead.read(at, ByteBuffer.allocate(step));
        }
        ByteBuffer tail = ByteBuffer.allocate(step);
        assertEquals(100, ahead.read(SIZE - 100, tail));
        assertEquals(0, ahead.read(SIZE, ByteBuffer.allocate(10)));
        for (long[] f : source.fetchesCopy()) {
            assertTrue(f[1] <= SIZE, "fetched past the end: " + f[0] + "-" + f[1]);
        }
    }
}
