package dev.branchboot.agent.http;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.qcow2.ByteSource;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The range source against an in-process fake server: exact bytes, the revision pinned with
 * If-Match, every kind of misbehaving answer retried rather than accepted, failover between two
 * servers and the return to the first, revision changes, and the retry deadline.
 */
class HttpRangeSourceTest {
    static final HttpSettings FAST = HttpSettings.DEFAULTS.withTimeouts(Duration.ofMillis(1000), Duration.ofSeconds(20))
            .withProbeInterval(Duration.ofMillis(50));

    final byte[] data = new byte[3_000_000];
    FakeImageServer one;
    FakeImageServer two;

    HttpRangeSourceTest() {
        new Random(7).nextBytes(data);
    }

    @AfterEach
    void stop() {
        if (one != null) {
            one.close();
        }
        if (two != null) {
            two.close();
        }
    }

    static byte[] read(ByteSource source, long offset, int length) throws Exception {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        source.readFully(offset, buffer);
        return buffer.array();
    }

    /**
     * Starts {@code count} fake servers ({@link #one}, then {@link #two}) that hold disk.img as
     * revision "r1", and connects to them without read-ahead.
     */
    RemoteImages serversWithDisk(int count) throws Exception {
        return serversWithDisk(count, 0);
    }

    /** As {@link #serversWithDisk(int)}, with read-ahead of up to {@code readAheadMax} bytes. */
    RemoteImages serversWithDisk(int count, int readAheadMax) throws Exception {
        one = new FakeImageServer();
        one.put("disk.img", data, "\"r1\"");
        if (count == 1) {
            return RemoteImages.connect(List.of(one.base()), FAST.withReadAheadMax(readAheadMax));
        }
        two = new FakeImageServer();
        two.put("disk.img", data, "\"r1\"");
        return RemoteImages.connect(List.of(one.base(), two.base()), FAST.withReadAheadMax(readAheadMax));
    }

    byte[] expected(long offset, int length) {
        return Arrays.copyOfRange(data, (int) offset, (int) offset + length);
    }

    @Test
    void readsExactBytesAndSendsTheEtagWithEveryRequest() throws Exception {
        try (RemoteImages remote = serversWithDisk(1)) {
            ByteSource source = remote.open("disk.img");
            assertEquals(data.length, source.size());
            Random random = new Random(1);
            for (int i = 0; i < 50; i++) {
                int length = 1 + random.nextInt(200_000);
                long offset = random.nextInt(data.length - length);
                assertArrayEquals(expected(offset, length), read(source, offset, length), "at " + offset);
            }
            // The end of the file: a short read, not an error.
            ByteBuffer tail = ByteBuffer.allocate(100);
            assertEquals(40, source.read(data.length - 40, tail));
            assertEquals(51, one.gets.get(), "one request per read, the short one included");
            assertTrue(one.ifMatch.stream().allMatch("\"r1\""::equals) && one.ifMatch.size() >= 50);
        }
    }

    @ParameterizedTest
    // A drip has a test of its own, which bounds its time.
    @EnumSource(value = FakeImageServer.Fault.class, mode = EnumSource.Mode.EXCLUDE, names = "DRIP")
    void aMisbehavingAnswerIsRetriedNeverAccepted(FakeImageServer.Fault fault) throws Exception {
        try (RemoteImages remote = serversWithDisk(1)) {
            ByteSource source = remote.open("disk.img");
            one.faults.add(fault);
            one.faults.add(fault);
            assertArrayEquals(expected(123_457, 70_000), read(source, 123_457, 70_000));
            // The JDK client itself retries a GET once when a kept-alive connection closes unanswered.
            long retries = remote.stats().retries();
            assertTrue(fault == FakeImageServer.Fault.RESET ? retries >= 1 && retries <= 2 : retries == 2,
                    fault + ": two failed attempts, then the right bytes; retries " + retries);
        }
    }

    @Test
    void failsOverToTheSecondServerAndReturnsWhenTheFirstRecovers() throws Exception {
        try (RemoteImages remote = serversWithDisk(2)) {
            ByteSource source = remote.open("disk.img");
            assertArrayEquals(expected(0, 1000), read(source, 0, 1000));
            assertEquals(0, two.gets.get(), "the first server is preferred");
            one.stop();
            assertArrayEquals(expected(5000, 1000), read(source, 5000, 1000));
            assertEquals(1, two.gets.get(), "the second server took over");
            assertEquals(1, remote.stats().failovers());
            one.restart();
            long before = one.gets.get();
            // The background probes must bring the first server back: bounded wait, no timing asserted.
            AtomicLong offset = new AtomicLong();
            await("reads to go back to the first server once it recovered").atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(25)).until(() -> {
                        long at = offset.getAndAdd(10);
                        assertArrayEquals(expected(at, 1000), read(source, at, 1000));
                        return one.gets.get() > before;
                    });
            assertEquals(2, remote.stats().failovers());
        }
    }

    @Test
    void aServerWithAnotherRevisionIsLeftForOneThatHasOurs() throws Exception {
        try (RemoteImages remote = serversWithDisk(2)) {
            ByteSource source = remote.open("disk.img");
            byte[] other = data.clone();
            other[100] ^= 1;
            one.put("disk.img", other, "\"r2\""); // republished on the first server only
            assertArrayEquals(expected(0, 1000), read(source, 0, 1000));
            assertEquals(1, two.gets.get());
            two.put("disk.img", other, "\"r2\"");
            RevisionUnavailableException e = assertThrows(RevisionUnavailableException.class, () -> read(source, 0, 1000));
            assertTrue(e.getMessage().contains("\"r1\"") && e.getMessage().contains("disk.img")
                    && e.getMessage().contains(one.base()) && e.getMessage().contains(two.base()), e.getMessage());
            // A later read asks nobody (both were found on another revision): its message says so, with no "null".
            RevisionUnavailableException later = assertThrows(RevisionUnavailableException.class, () -> read(source, 5000, 1000));
            assertTrue(later.getMessage().contains("each answered with another revision at an earlier read")
                    && !later.getMessage().contains("null"), later.getMessage());
        }
    }

    @Test
    void aPinnedRevisionThatDisappearsFailsAtOnceNamingItNotAtTheDeadline() throws Exception {
        one = new FakeImageServer();
        two = new FakeImageServer();
        one.put("disk.img", data, "\"r1\"");
        two.put("disk.img", data, "\"r1\"");
        // A root disk's deadline: if a 404 were a passing fault, the read would wait ten minutes.
        HttpSettings rootDisk = FAST.withTimeouts(Duration.ofMillis(1000), Duration.ofMinutes(10)).withReadAheadMax(0);
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base(), two.base()), rootDisk)) {
            ByteSource source = remote.open("disk.img");
            assertArrayEquals(expected(0, 1000), read(source, 0, 1000));
            one.remove("disk.img");
            assertArrayEquals(expected(5000, 1000), read(source, 5000, 1000), "the second server still has it");
            two.remove("disk.img");
            RevisionUnavailableException e = assertTimeoutPreemptively(Duration.ofMinutes(1),
                    () -> assertThrows(RevisionUnavailableException.class, () -> read(source, 9000, 1000)));
            assertTrue(e.getMessage().contains("\"r1\"") && e.getMessage().contains("disk.img")
                    && e.getMessage().contains("404"), e.getMessage());
        }
    }

    @Test
    void aPassing404ThatAHeadContradictsIsRetriedOnTheSameServer() throws Exception {
        try (RemoteImages remote = serversWithDisk(1)) {
            ByteSource source = remote.open("disk.img");
            one.faults.add(FakeImageServer.Fault.NOT_FOUND);
            assertArrayEquals(expected(100, 1000), read(source, 100, 1000));
            one.faults.add(FakeImageServer.Fault.NOT_FOUND);
            assertArrayEquals(expected(2000, 1000), read(source, 2000, 1000), "not written off after one 404");
            assertEquals(2, remote.stats().retries());
        }
    }

    @Test
    void aRepublishedSymlinkKeepsServingThePinnedRevisionByItsOwnName() throws Exception {
        one = new FakeImageServer();
        one.put("disk@1.img", data, "\"r1\"");
        one.link("disk.img", "disk@1.img");
        try (HttpTransport transport = HttpTransport.connect(List.of(Names.base(one.base())), FAST, FetchListener.NONE)) {
            HttpRangeSource source = HttpRangeSource.open(transport, "disk.img", null, path -> {
                throw new AssertionError("disk.img has no backing file, yet " + path + " was opened");
            });
            assertEquals("disk@1.img", source.path());
            byte[] other = new byte[data.length];
            one.put("disk@2.img", other, "\"r2\"");
            one.link("disk.img", "disk@2.img");
            assertArrayEquals(expected(1000, 50_000), read(source, 1000, 50_000));
        }
    }

    /**
     * Two revisions written in the same second with the same size: an origin that makes its ETag
     * from time and size (nginx's "mtime-size") gives both the same one.
     */
    private byte[] sameSizeOtherRevision() {
        byte[] other = new byte[data.length];
        new Random(8).nextBytes(other);
        return other;
    }

    private static HttpRangeSource openPinned(HttpTransport transport, String name) throws Exception {
        return HttpRangeSource.open(transport, name, null, path -> {
            throw new AssertionError(name + " has no backing file, yet " + path + " was opened");
        });
    }

    @Test
    void aNameRepointedToARevisionWithTheSameEtagIsNotReadWhenTheContentLocationMovedOn() throws Exception {
        one = new FakeImageServer();
        two = new FakeImageServer();
        for (FakeImageServer server : List.of(one, two)) {
            // A branch passing on the Content-Location of an origin that keeps its images in /srv/images/.
            server.contentLocationFolder("/srv/images/");
            server.put("disk@1.img", data, "\"5f3a-2dc6c0\"");
            server.put("disk@2.img", sameSizeOtherRevision(), "\"5f3a-2dc6c0\"");
            server.link("disk.img", "disk@1.img");
        }
        try (HttpTransport transport = HttpTransport.connect(List.of(Names.base(one.base()), Names.base(two.base())), FAST,
                FetchListener.NONE)) {
            HttpRangeSource source = openPinned(transport, "disk.img");
            assertEquals("disk.img", source.path(), "/srv/images/ is not the servers' folder: the name opened is read");
            assertArrayEquals(expected(0, 1000), read(source, 0, 1000));
            one.link("disk.img", "disk@2.img"); // same ETag, same length, other bytes
            assertArrayEquals(expected(1000, 50_000), read(source, 1000, 50_000), "read from the server that still has it");
            assertTrue(two.gets.get() > 0);
            two.sendContentLocation(false); // now missing where it was present
            RevisionUnavailableException e = assertThrows(RevisionUnavailableException.class, () -> read(source, 2000, 1000));
            assertTrue(e.getMessage().contains("disk@2.img") || e.getMessage().contains("no Content-Location"), e.getMessage());
        }
    }

    @Test
    void theOverlaysRevisionTellsApartTwoFilesWithOneEtagByTheirContentLocation() throws Exception {
        one = new FakeImageServer();
        one.contentLocationFolder("/srv/images/");
        one.put("disk@1.img", data, "\"5f3a-2dc6c0\"");
        one.put("disk@2.img", sameSizeOtherRevision(), "\"5f3a-2dc6c0\"");
        one.link("disk.img", "disk@1.img");
        String first;
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), FAST)) {
            remote.open("disk.img");
            first = remote.revision();
        }
        one.link("disk.img", "disk@2.img");
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), FAST)) {
            remote.open("disk.img");
            // A file overlay made on the first revision must not be attached to the second.
            assertTrue(!first.equals(remote.revision()), first);
        }
    }

    @Test
    void theRevisionsOwnNameAnsweringForAnotherFileIsAnotherRevision() throws Exception {
        one = new FakeImageServer();
        one.put("disk@1.img", data, "\"5f3a-2dc6c0\"");
        one.put("disk@2.img", sameSizeOtherRevision(), "\"5f3a-2dc6c0\"");
        one.link("disk.img", "disk@1.img");
        try (HttpTransport transport = HttpTransport.connect(List.of(Names.base(one.base())), FAST, FetchListener.NONE)) {
            HttpRangeSource source = openPinned(transport, "disk.img");
            assertEquals("disk@1.img", source.path());
            assertArrayEquals(expected(0, 1000), read(source, 0, 1000));
            one.link("disk@1.img", "disk@2.img");
            assertThrows(RevisionUnavailableException.class, () -> read(source, 1000, 1000));
        }
    }

    @Test
    void givesUpAtTheDeadlineWithAnErrorNamingServerImageAndOffset() throws Exception {
        one = new FakeImageServer();
        one.put("disk.img", data, "\"r1\"");
        HttpSettings quick = FAST.withTimeouts(Duration.ofMillis(500), Duration.ofMillis(300)).withReadAheadMax(0);
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), quick)) {
            ByteSource source = remote.open("disk.img");
            for (int i = 0; i < 1000; i++) {
                one.faults.add(FakeImageServer.Fault.STATUS_503);
            }
            HttpImageException e = assertThrows(HttpImageException.class, () -> read(source, 4096, 10));
            assertTrue(e.getMessage().contains(one.base()) && e.getMessage().contains("disk.img")
                    && e.getMessage().contains("4096") && e.getMessage().contains("503"), e.getMessage());
        }
    }

    @Test
    void aServerThatTricklesItsBodyIsCutOffAndTheReadEndsByItsDeadline() throws Exception {
        one = new FakeImageServer();
        one.put("disk.img", data, "\"r1\"");
        // The attack run's serve --request-timeout 3s --retry-deadline 8s, shortened.
        Duration requestTimeout = Duration.ofSeconds(1);
        Duration retryDeadline = Duration.ofSeconds(3);
        HttpSettings settings = FAST.withTimeouts(requestTimeout, retryDeadline).withReadAheadMax(0);
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), settings)) {
            ByteSource source = remote.open("disk.img");
            for (int i = 0; i < 1000; i++) {
                one.faults.add(FakeImageServer.Fault.DRIP);
            }
            long start = System.nanoTime();
            // A byte every 100 ms never lets a socket's read timeout fire: without a bound by the
            // clock, this read would last the 65536 bytes' 109 minutes.
            HttpImageException e = assertTimeoutPreemptively(Duration.ofSeconds(30),
                    () -> assertThrows(HttpImageException.class, () -> read(source, 4096, 65536)));
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            // The deadline plus one request timeout, and a generous margin for a loaded machine.
            assertTrue(took.compareTo(retryDeadline.plus(requestTimeout).plusSeconds(4)) < 0, "the read took " + took);
            assertTrue(e.getMessage().contains("disk.img") && e.getMessage().contains("4096")
                    && e.getMessage().contains("timed out") && e.getMessage().contains(one.base()), e.getMessage());
            assertTrue(remote.stats().retries() >= 2, "each request was cut off and retried: " + remote.stats().retries());
        }
    }

    @Test
    void aServerWhoseContentLengthIsNotDigitsIsFaultyAndTheNextOneIsUsed() throws Exception {
        // "+3000001" parses as a number, but not as HTTP's 1*DIGIT: pinning that length would be
        // trusting a server that cannot frame its messages.
        try (ScriptedHttpServer faulty = new ScriptedHttpServer(r -> ScriptedHttpServer.bytes(
                "HTTP/1.1 200 OK\r\nETag: \"r1\"\r\nContent-Length: +3000001\r\n\r\n"))) {
            two = new FakeImageServer();
            two.put("disk.img", data, "\"r1\"");
            try (RemoteImages remote = RemoteImages.connect(List.of(faulty.base(), two.base()), FAST.withReadAheadMax(0))) {
                ByteSource source = remote.open("disk.img");
                assertEquals(data.length, source.size(), "pinned from the second server");
                assertArrayEquals(expected(1000, 5000), read(source, 1000, 5000));
                assertTrue(remote.stats().retries() >= 1);
            }
        }
    }

    @Test
    void whatAServerSendsReachesTheLogEscaped() throws Exception {
        java.util.List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Logger log = java.util.logging.Logger.getLogger("dev.branchboot.agent.http");
        java.util.logging.Handler capture = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord record) {
                lines.add(new java.util.logging.SimpleFormatter().formatMessage(record));
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        log.addHandler(capture);
        one = new FakeImageServer();
        // Bytes 0x80-0xFF are allowed in an ETag (obs-text); a NUL or an escape sequence makes it malformed.
        one.put("disk.img", data, "\"r\u00ff1\u0085\"");
        one.put("weak.img", data, "W/\"w\u00e9ak\"");
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), FAST.withReadAheadMax(0))) {
            assertArrayEquals(expected(0, 100), read(remote.open("disk.img"), 0, 100));
            remote.open("weak.img");
        } finally {
            log.removeHandler(capture);
        }
        assertTrue(lines.stream().anyMatch(l -> l.contains("\\xff")), lines.toString());
        for (String line : lines) {
            Http11ClientTest.assertPrintable(line);
        }
    }

    @Test
    void aMissingImageIsAClearError() throws Exception {
        one = new FakeImageServer();
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), FAST)) {
            HttpImageException e = assertThrows(HttpImageException.class, () -> remote.open("nope.img"));
            assertTrue(e.getMessage().contains("nope.img") && e.getMessage().contains("404"), e.getMessage());
        }
    }

    @Test
    void sequentialReadsAreReadAheadAndFetchTheFileAboutOnceRandomReadsFetchOnlyWhatIsAsked() throws Exception {
        try (RemoteImages remote = serversWithDisk(1, 1 << 20)) {
            ByteSource source = remote.open("disk.img");
            for (int offset = 0; offset < data.length; offset += 16_384) {
                int length = Math.min(16_384, data.length - offset);
                assertArrayEquals(expected(offset, length), read(source, offset, length));
            }
            // The read-ahead grows with the run (half of what it has read), so the first requests are small.
            assertTrue(one.gets.get() < 30, "read ahead: " + one.gets.get() + " requests for 184 sequential reads");
            assertTrue(one.bodyBytes.get() <= data.length * 1.05, one.bodyBytes.get() + " bytes fetched");
            assertTrue(remote.stats().readAheadHits() > 150);
        }
        one.bodyBytes.set(0);
        try (RemoteImages remote = RemoteImages.connect(List.of(one.base()), FAST.withReadAheadMax(1 << 20))) {
            ByteSource source = remote.open("disk.img");
            Random random = new Random(3);
            for (int i = 0; i < 100; i++) {
                long offset = random.nextInt(data.length - 4096);
                assertArrayEquals(expected(offset, 4096), read(source, offset, 4096));
            }
            assertEquals(100 * 4096, one.bodyBytes.get(), "random reads fetch exactly what they ask for");
        }
    }

    @Test
    void twoReadersTakingTurnsAtOneSequentialRunAreReadAheadWithoutFetchingAnythingTwice() throws Exception {
        try (RemoteImages remote = serversWithDisk(1, 1 << 20)) {
            ByteSource source = remote.open("disk.img");
            long opening = one.bodyBytes.get();
            int piece = 20_000; // like the stored bytes of a 256 KiB NBD read of a compressed image
            AtomicLong next = new AtomicLong();
            java.util.concurrent.ConcurrentLinkedQueue<String> wrong = new java.util.concurrent.ConcurrentLinkedQueue<>();
            Runnable reader = () -> {
                try {
                    for (long offset; (offset = next.getAndAdd(piece)) < data.length; ) {
                        int length = (int) Math.min(piece, data.length - offset);
                        if (!java.util.Arrays.equals(expected(offset, length), read(source, offset, length))) {
                            wrong.add("at " + offset);
                        }
                    }
                } catch (Exception e) {
                    wrong.add(e.toString());
                }
            };
            Thread a = new Thread(reader);
            Thread b = new Thread(reader);
            a.start();
            b.start();
            a.join();
            b.join();
            assertTrue(wrong.isEmpty(), wrong.toString());
            long fetched = one.bodyBytes.get() - opening;
            assertTrue(fetched <= data.length * 1.02, fetched + " bytes fetched for " + data.length);
            assertTrue(remote.stats().readAheadHits() > 100, remote.stats().readAheadHits() + " of 150 reads from read-ahead");
        }
    }
}
