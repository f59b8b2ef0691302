package dev.branchboot.agent.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.MemoryDevice;
import dev.branchboot.agent.blockdev.ReadOnlyBlockDevice;
import dev.branchboot.qcow2.Extent;
import dev.branchboot.agent.nbd.NbdTestClient.OptReply;
import dev.branchboot.agent.nbd.NbdTestClient.Reply;
import dev.branchboot.agent.overlay.CowOverlay;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server against a byte-level client: handshake rules, request validation, replies. */
class NbdServerTest {
    static final int SIZE = (1 << 20) + 1000; // deliberately not a multiple of 512

    @TempDir
    Path dir;
    MemoryDevice image;
    CowOverlay overlay;
    NbdServer server;
    SocketAddress address;

    @BeforeEach
    void start() throws IOException {
        image = MemoryDevice.random(SIZE, 42);
        overlay = CowOverlay.inRam(image, 512 * 1024);
        server = new NbdServer(new NbdExport("disk", overlay), new NbdServer.Limits(4, 64 << 20, 16));
        address = server.listen(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
    }

    @AfterEach
    void stop() {
        server.shutdown();
    }

    NbdTestClient client() throws IOException {
        return NbdTestClient.connect(address);
    }

    @Test
    void goWithoutInfoRequestsStillGetsExportInfo() throws IOException {
        try (NbdTestClient c = client()) {
            assertEquals(3, c.greeting());
            c.clientFlags(1);
            c.option(7, NbdTestClient.goData(""));
            OptReply info = c.optReply();
            assertEquals(3, info.type());
            ByteBuffer d = ByteBuffer.wrap(info.data());
            assertEquals(0, d.getShort());
            assertEquals(SIZE, d.getLong());
            int flags = d.getShort() & 0xffff;
            assertEquals(1, flags & 1, "HAS_FLAGS");
            assertEquals(0, flags & 0x80, "no DF without structured replies");
            assertEquals(0x100, flags & 0x100, "multi-conn: one shared overlay");
            OptReply r;
            while ((r = c.optReply()).type() == 3) {
                // more infos
            }
            assertEquals(1, r.type());
            assertEquals(0, r.data().length);
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 5000, 9096), c.simpleRead(5000, 4096));
            // The unaligned tail is readable.
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), SIZE - 1500, SIZE), c.simpleRead(SIZE - 1500, 1500));
        }
    }

    @Test
    void exportNameSendsZeroPaddingUnlessNoZeroes() throws IOException {
        for (int flags : new int[] {1, 3}) {
            try (NbdTestClient c = client()) {
                c.greeting();
                c.clientFlags(flags);
                c.option(1, "disk".getBytes(StandardCharsets.UTF_8));
                assertEquals(SIZE, c.in.readLong());
                c.in.readUnsignedShort();
                if (flags == 1) {
                    byte[] zeros = new byte[124];
                    c.in.readFully(zeros);
                    assertArrayEquals(new byte[124], zeros);
                }
                assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 512), c.simpleRead(0, 512));
            }
        }
    }

    @Test
    void unknownExportNamesAreRefused() throws IOException {
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.option(7, NbdTestClient.goData("other"));
            assertEquals(0x80000006, c.optReply().type());
            c.option(1, "other".getBytes(StandardCharsets.UTF_8));
            assertTrue(c.closedByServer());
        }
    }

    @Test
    void anExportNameLongerThanTheProtocolAllowsIsRefusedAsTooLong() throws IOException {
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.option(7, NbdTestClient.goData("a".repeat(4097)));
            OptReply tooLong = c.optReply();
            assertEquals(0x80000003, tooLong.type(), "ERR_INVALID");
            String why = new String(tooLong.data(), StandardCharsets.UTF_8);
            assertTrue(why.contains("4097 bytes") && why.contains("4096") && !why.contains("UTF-8"), why);
            // At the limit: a valid name, just not this server's.
            c.option(7, NbdTestClient.goData("a".repeat(4096)));
            OptReply unknown = c.optReply();
            assertEquals(0x80000006, unknown.type(), "ERR_UNKNOWN");
            assertTrue(unknown.data().length <= 4096, "a reply's message is a string of at most 4096 bytes too");
            c.option(7, NbdTestClient.goData("\u00ff"));
            assertEquals(0x80000006, c.optReply().type(), "valid UTF-8");
        }
    }

    @Test
    void anExportNameIsEscapedInTheLogAndInReplies() throws IOException {
        List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Logger log = java.util.logging.Logger.getLogger("dev.branchboot.agent.nbd");
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
        String forged = "x\u001b[2J\nbranchboot-agent: WARNING: forged";
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.option(7, NbdTestClient.goData(forged));
            OptReply unknown = c.optReply();
            assertEquals(0x80000006, unknown.type());
            String message = new String(unknown.data(), StandardCharsets.UTF_8);
            assertTrue(message.contains("x\\x1b[2J\\x0abranchboot-agent"), message);
            c.option(1, forged.getBytes(StandardCharsets.UTF_8));
            assertTrue(c.closedByServer());
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                    .until(() -> lines.stream().anyMatch(l -> l.contains("unknown export")));
        } finally {
            log.removeHandler(capture);
        }
        for (String line : lines) {
            assertTrue(line.chars().allMatch(ch -> ch >= 0x20 && ch <= 0x7e), "not escaped: " + line);
        }
    }

    @Test
    void listAbortStarttlsAndUnknownOptions() throws IOException {
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.option(3, new byte[0]);
            OptReply server = c.optReply();
            assertEquals(2, server.type());
            assertEquals("disk", new String(server.data(), 4, server.data().length - 4, StandardCharsets.UTF_8));
            assertEquals(1, c.optReply().type());
            c.option(3, new byte[] {1});
            assertEquals(0x80000003, c.optReply().type(), "LIST with data");
            c.option(5, new byte[0]);
            assertEquals(0x80000001, c.optReply().type(), "STARTTLS without TLS");
            c.option(99, new byte[300]);
            assertEquals(0x80000001, c.optReply().type(), "unknown option");
            c.option(11, new byte[0]);
            assertEquals(0x80000001, c.optReply().type(), "extended headers not implemented");
            c.option(2, new byte[0]);
            assertEquals(1, c.optReply().type());
            assertTrue(c.closedByServer());
        }
    }

    @Test
    void optionLengthsThatLieGetErrInvalid() throws IOException {
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.option(7, ByteBuffer.allocate(10).putInt(100).array());
            assertEquals(0x80000003, c.optReply().type(), "name longer than the option");
            c.option(7, ByteBuffer.allocate(8).putInt(0).putShort((short) 5).array());
            assertEquals(0x80000003, c.optReply().type(), "info count overruns");
            c.option(10, NbdTestClient.metaData("disk", "base:allocation"));
            assertEquals(0x80000003, c.optReply().type(), "meta context before structured replies");
            c.option(8, new byte[] {0});
            assertEquals(0x80000003, c.optReply().type(), "structured reply with data");
            c.option(8, new byte[0]);
            assertEquals(1, c.optReply().type());
            c.option(8, new byte[0]);
            assertEquals(0x80000003, c.optReply().type(), "structured reply twice");
            byte[] bad = NbdTestClient.metaData("disk", "base:allocation");
            ByteBuffer.wrap(bad).putInt(8 + 4, 1000);
            c.option(10, bad);
            assertEquals(0x80000003, c.optReply().type(), "query length overruns");
            // Still in sync: a normal GO works.
            c.option(7, NbdTestClient.goData("disk"));
            OptReply r;
            while ((r = c.optReply()).type() == 3) {
                // infos
            }
            assertEquals(1, r.type());
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 100), c.structuredRead(0, 100, 1));
        }
    }

    @Test
    void hugeOptionsAndUnknownClientFlagsDisconnect() throws IOException {
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.out.writeLong(NbdTestClient.IHAVEOPT);
            c.out.writeInt(99);
            c.out.writeInt(1 << 30);
            c.out.flush();
            assertEquals(0x80000009, c.optReply().type());
            assertTrue(c.closedByServer());
        }
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(0x10);
            assertTrue(c.closedByServer());
        }
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.out.writeLong(0x1234);
            c.out.writeInt(7);
            c.out.writeInt(0);
            c.out.flush();
            assertTrue(c.closedByServer());
        }
    }

    @Test
    void metaContextListAndSet() throws IOException {
        try (NbdTestClient c = client()) {
            c.greeting();
            c.clientFlags(3);
            c.option(8, new byte[0]);
            assertEquals(1, c.optReply().type());
            c.option(9, NbdTestClient.metaData("disk"));
            OptReply ctx = c.optReply();
            assertEquals(4, ctx.type());
            assertEquals("base:allocation", new String(ctx.data(), 4, ctx.data().length - 4, StandardCharsets.UTF_8));
            assertEquals(1, c.optReply().type());
            c.option(10, NbdTestClient.metaData("disk", "qemu:dirty-bitmap:x", "base:allocation"));
            ctx = c.optReply();
            assertEquals(4, ctx.type());
            assertNotEquals(0, ByteBuffer.wrap(ctx.data()).getInt());
            assertEquals(1, c.optReply().type(), "exactly one context for base:allocation");
        }
    }

    @Test
    void structuredReadsAndBlockStatus() throws IOException {
        try (NbdTestClient c = client()) {
            NbdTestClient.Opened o = c.open("disk", true);
            assertEquals(SIZE, o.size());
            assertEquals(0x80, o.flags() & 0x80, "DF with structured replies");
            byte[] expected = image.bytes();
            assertArrayEquals(expected, c.structuredRead(0, SIZE, 1));
            assertArrayEquals(Arrays.copyOfRange(expected, 12345, 12345 + 70000), c.structuredRead(12345, 70000, 2));
            // Block status: extents are consecutive, start at the offset, and match the bytes.
            c.request(0, 7, 3, 0, SIZE, null);
            Reply r = c.reply();
            assertEquals(5, r.type());
            assertTrue(r.done());
            ByteBuffer p = ByteBuffer.wrap(r.payload());
            assertNotEquals(0, p.getInt());
            long at = 0;
            while (p.hasRemaining()) {
                long len = Integer.toUnsignedLong(p.getInt());
                int state = p.getInt();
                assertTrue(len > 0);
                if ((state & 2) != 0) {
                    for (long i = at; i < at + len; i++) {
                        assertEquals(0, expected[(int) i], "byte " + i + " reported zero");
                    }
                }
                at += len;
            }
            assertEquals(SIZE, at, "extents cover the export exactly");
            c.request(8, 7, 4, 100, 100000, null);
            r = c.reply();
            p = ByteBuffer.wrap(r.payload());
            p.getInt();
            assertTrue(p.getInt() <= 100000);
            p.getInt();
            assertEquals(0, p.remaining(), "REQ_ONE gives one extent");
        }
    }

    @Test
    void badRequestsGetTheirErrorsAndTheConnectionStaysUsable() throws IOException {
        try (NbdTestClient c = client()) {
            c.open("disk", false);
            c.request(0, 0, 1, SIZE - 10, 11, null);
            assertEquals(22, c.reply().error(), "read past the end");
            c.request(0, 0, 2, -1L, 1, null);
            assertEquals(22, c.reply().error(), "offset with bit 63");
            c.request(0, 1, 3, SIZE - 10, 20, new byte[20]);
            assertEquals(28, c.reply().error(), "write past the end");
            c.request(0, 0, 4, 0, (32 << 20) + 1, null);
            assertEquals(22, c.reply().error(), "oversize read");
            c.request(0, 1, 5, 0, (32 << 20) + 4096, new byte[(32 << 20) + 4096]);
            assertEquals(22, c.reply().error(), "oversize write, payload consumed");
            c.request(0, 42, 6, 0, 0, null);
            assertEquals(22, c.reply().error(), "unknown command");
            c.request(0x40, 0, 7, 0, 10, null);
            assertEquals(22, c.reply().error(), "unknown flag");
            c.request(4, 0, 8, 0, 10, null);
            assertEquals(22, c.reply().error(), "DF without structured replies");
            c.request(0, 7, 9, 0, 10, null);
            assertEquals(22, c.reply().error(), "block status without a context");
            c.request(0, 0, 10, 0, 0, null);
            Reply zero = c.reply();
            assertEquals(0, zero.error(), "zero-length read");
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 4096), c.simpleRead(0, 4096));
        }
        try (NbdTestClient c = client()) {
            c.open("disk", true);
            c.request(0, 0, 1, SIZE, 1, null);
            Reply r = c.reply();
            assertEquals(0x8001, r.type(), "structured READ errors are error chunks");
            assertEquals(22, r.error());
            assertTrue(r.done());
            c.request(0, 0, 2, 0, (32 << 20) + 1, null);
            assertEquals(75, c.reply().error(), "oversize structured read: EOVERFLOW");
            c.request(0, 7, 3, 0, 0, null);
            assertEquals(22, c.reply().error());
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 10), c.structuredRead(0, 10, 4));
        }
    }

    @Test
    void writesZeroesTrimsAndTheFullOverlay() throws IOException {
        try (NbdTestClient c = client(); NbdTestClient other = client()) {
            c.open("disk", false);
            other.open("disk", true);
            byte[] data = new byte[10000];
            new Random(1).nextBytes(data);
            c.request(1, 1, 1, 3000, data.length, data);
            assertEquals(0, c.reply().error());
            assertArrayEquals(data, other.structuredRead(3000, data.length, 1), "another connection sees the write");
            c.request(2, 6, 2, 4000, 5000, null);
            assertEquals(0, c.reply().error());
            byte[] expected = data.clone();
            Arrays.fill(expected, 1000, 6000, (byte) 0);
            assertArrayEquals(expected, c.simpleRead(3000, data.length));
            c.request(0, 3, 3, 0, 0, null);
            assertEquals(0, c.reply().error(), "flush");
            c.request(0x10, 6, 4, 0, 1 << 20, null);
            assertEquals(0, c.reply().error(), "fast zero is fast here");
            assertArrayEquals(new byte[1 << 20], c.simpleRead(0, 1 << 20));
            c.request(0, 4, 5, 0, SIZE, null);
            assertEquals(0, c.reply().error(), "trim");
            // 512 KiB of RAM: a 1 MiB write does not fit.
            c.request(0, 1, 6, 0, 1 << 20, new byte[1 << 20]);
            assertEquals(28, c.reply().error(), "ENOSPC when the overlay is full");
            c.request(0, 1, 7, 0, 4096, new byte[4096]);
            assertEquals(0, c.reply().error(), "small writes still fit");
        }
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws IOException {
        NbdServer ro = new NbdServer(new NbdExport("ro", image), new NbdServer.Limits(2, 64 << 20, 4));
        SocketAddress a = ro.listen(UnixDomainSocketAddress.of(dir.resolve("ro.sock")));
        try (NbdTestClient c = NbdTestClient.connect(a)) {
            NbdTestClient.Opened o = c.open("ro", false);
            assertEquals(2, o.flags() & 2, "READ_ONLY");
            assertEquals(0, o.flags() & 0x20, "no TRIM");
            c.request(0, 1, 1, 0, 4096, new byte[4096]);
            assertEquals(1, c.reply().error());
            c.request(0, 4, 2, 0, 4096, null);
            assertEquals(1, c.reply().error());
            c.request(0, 6, 3, 0, 4096, null);
            assertEquals(1, c.reply().error());
            c.request(0, 3, 4, 0, 0, null);
            assertEquals(0, c.reply().error(), "flush of a read-only export is fine");
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 4096), c.simpleRead(0, 4096));
        } finally {
            ro.shutdown();
        }
    }

    @Test
    void pipelinedRequestsAllGetWholeReplies() throws IOException {
        try (NbdTestClient c = client()) {
            c.open("disk", false);
            Random random = new Random(7);
            Map<Long, long[]> sent = new HashMap<>();
            for (long cookie = 1; cookie <= 128; cookie++) {
                int length = 1 + random.nextInt(200_000);
                long offset = random.nextInt(SIZE - length);
                sent.put(cookie, new long[] {offset, length});
                c.request(0, 0, cookie, offset, length, null);
            }
            byte[] expected = image.bytes();
            for (int i = 0; i < 128; i++) {
                Reply r = c.reply();
                long[] req = sent.remove(r.cookie());
                assertEquals(0, r.error());
                byte[] data = new byte[(int) req[1]];
                c.in.readFully(data);
                assertArrayEquals(Arrays.copyOfRange(expected, (int) req[0], (int) (req[0] + req[1])), data, "cookie " + r.cookie());
            }
            assertTrue(sent.isEmpty());
        }
    }

    @Test
    void readsAtQueueDepthOneRunOnTheReadingThreadAPipelinedRequestMovesThemToTheWorkers() throws Exception {
        Map<Long, Thread> servedBy = new ConcurrentHashMap<>();
        CountDownLatch thirdServing = new CountDownLatch(1);
        CountDownLatch fourthSent = new CountDownLatch(1);
        BlockDevice device = new ReadOnlyBlockDevice() {
            @Override
            public String name() {
                return "recording";
            }

            @Override
            public long size() {
                return SIZE;
            }

            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                servedBy.put(offset, Thread.currentThread());
                if (offset == 2 * PIECE) {
                    thirdServing.countDown();
                    try {
                        // The client sends its next request while this one is being served.
                        assertTrue(fourthSent.await(10, TimeUnit.SECONDS));
                    } catch (InterruptedException e) {
                        throw new IOException(e);
                    }
                }
                image.read(offset, dst);
            }

            @Override
            public List<Extent> blockStatus(long offset, long length) {
                return image.blockStatus(offset, length);
            }

            @Override
            public void close() {
            }
        };
        NbdServer recording = new NbdServer(new NbdExport("rec", device), new NbdServer.Limits(2, 64 << 20, 4));
        SocketAddress where = recording.listen(UnixDomainSocketAddress.of(dir.resolve("rec.sock")));
        try (NbdTestClient c = NbdTestClient.connect(where)) {
            c.open("rec", false);
            byte[] expected = image.bytes();
            for (long offset : new long[] {0, PIECE}) {
                c.request(0, 0, offset, offset, PIECE, null);
                assertReadReply(c, offset, expected);
            }
            c.request(0, 0, 2 * PIECE, 2 * PIECE, PIECE, null);
            assertTrue(thirdServing.await(10, TimeUnit.SECONDS), "the third read was never served");
            c.request(0, 0, 3 * PIECE, 3 * PIECE, PIECE, null);
            fourthSent.countDown();
            assertReadReply(c, 2 * PIECE, expected);
            assertReadReply(c, 3 * PIECE, expected);
            c.request(0, 0, 4 * PIECE, 4 * PIECE, PIECE, null);
            assertReadReply(c, 4 * PIECE, expected);
        } finally {
            recording.shutdown();
        }
        // At queue depth one, every read was served by the one thread that reads the connection.
        Thread reader = servedBy.get(0L);
        assertEquals(reader, servedBy.get((long) PIECE));
        assertEquals(reader, servedBy.get(2L * PIECE));
        // After the pipelined request, reads go to the workers for a while.
        assertNotEquals(reader, servedBy.get(3L * PIECE));
        assertNotEquals(reader, servedBy.get(4L * PIECE));
    }

    /** Reads of this size (what pipelining clients send) always look for a pipelined request. */
    private static final int PIECE = 64 << 10;

    private static void assertReadReply(NbdTestClient c, long offset, byte[] expected) throws IOException {
        Reply r = c.reply();
        assertEquals(offset, r.cookie());
        assertEquals(0, r.error());
        byte[] data = new byte[PIECE];
        c.in.readFully(data);
        assertArrayEquals(Arrays.copyOfRange(expected, (int) offset, (int) offset + PIECE), data, "offset " + offset);
    }

    @Test
    void badMagicDisconnectsOnlyThatClientAndDiscDrains() throws IOException {
        try (NbdTestClient bad = client(); NbdTestClient good = client()) {
            bad.open("disk", false);
            good.open("disk", false);
            bad.out.writeInt(0xdeadbeef);
            bad.out.write(new byte[24]);
            bad.out.flush();
            assertTrue(bad.closedByServer());
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 4096), good.simpleRead(0, 4096));
            // Writes then DISC: every write is answered, then the server closes.
            for (long cookie = 1; cookie <= 20; cookie++) {
                good.request(0, 1, cookie, cookie * 4096, 4096, new byte[4096]);
            }
            good.request(0, 2, 0, 0, 0, null);
            for (int i = 0; i < 20; i++) {
                assertEquals(0, good.reply().error());
            }
            assertTrue(good.closedByServer());
        }
    }

    @Test
    void dfCacheFuaAndRangeErrorsOfOtherCommands() throws IOException {
        try (NbdTestClient c = client()) {
            c.open("disk", true);
            // DF: one content chunk for the whole range, even across holes.
            c.request(4, 0, 1, 1000, 300_000, null);
            Reply r = c.reply();
            assertEquals(1, r.type());
            assertTrue(r.done(), "DF: a single chunk");
            ByteBuffer p = ByteBuffer.wrap(r.payload());
            assertEquals(1000, p.getLong());
            byte[] data = new byte[p.remaining()];
            p.get(data);
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 1000, 301_000), data);
            c.request(0, 5, 2, 0, SIZE, null);
            assertEquals(0, c.reply().error(), "CACHE");
            c.request(1, 0, 3, 0, 10, null);
            c.request(1, 3, 4, 0, 0, null);
            Reply first = c.reply();
            Reply second = c.reply();
            assertEquals(0, first.error(), "FUA on READ and FLUSH is accepted");
            assertEquals(0, second.error());
            if (first.cookie() == 3 && !first.done() || second.cookie() == 3 && !second.done()) {
                throw new AssertionError("a 10-byte read is one chunk");
            }
            c.request(0, 4, 5, SIZE - 1, 2, null);
            assertEquals(22, c.reply().error(), "TRIM past the end");
            c.request(0, 6, 6, SIZE, 1, null);
            assertEquals(28, c.reply().error(), "WRITE_ZEROES past the end");
            c.request(0, 5, 7, SIZE, 1, null);
            assertEquals(22, c.reply().error(), "CACHE past the end");
            c.request(2, 1, 8, 0, 4, new byte[4]);
            assertEquals(22, c.reply().error(), "NO_HOLE is only for WRITE_ZEROES");
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 4), c.structuredRead(0, 4, 9), "and the refused write changed nothing");
        }
    }

    @Test
    void clientsThatStallMidRequestOrMidHandshakeAreCutOffIdleOnesAreNot() throws IOException {
        NbdServer strict = new NbdServer(new NbdExport("disk", overlay), new NbdServer.Limits(2, 64 << 20, 8));
        strict.setTimeouts(300, 300);
        SocketAddress a = strict.listen(UnixDomainSocketAddress.of(dir.resolve("strict.sock")));
        try (NbdTestClient idle = NbdTestClient.connect(a); NbdTestClient stalled = NbdTestClient.connect(a);
             NbdTestClient silent = NbdTestClient.connect(a); NbdTestClient halfWrite = NbdTestClient.connect(a)) {
            idle.open("disk", false);
            stalled.open("disk", false);
            halfWrite.open("disk", false);
            stalled.out.writeInt(NbdTestClient.REQUEST_MAGIC);
            stalled.out.writeShort(0);
            stalled.out.flush(); // ...and never the rest of the header
            halfWrite.out.writeInt(NbdTestClient.REQUEST_MAGIC);
            halfWrite.out.writeShort(0);
            halfWrite.out.writeShort(1);
            halfWrite.out.writeLong(1);
            halfWrite.out.writeLong(0);
            halfWrite.out.writeInt(8192);
            halfWrite.out.write(new byte[100]);
            halfWrite.out.flush(); // ...and never the rest of the payload
            silent.greeting(); // ...and never the client flags
            assertTrue(stalled.closedByServer());
            assertTrue(halfWrite.closedByServer());
            assertTrue(silent.closedByServer());
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 0, 512), idle.simpleRead(0, 512), "an idle client is left alone");
        } finally {
            strict.shutdown();
        }
    }

    @Test
    void aClientThatNeverReadsItsRepliesSlowsOnlyItself() throws Exception {
        // The server's real limits, over a device large enough for 1 MiB reads everywhere.
        MemoryDevice big = MemoryDevice.random(64 << 20, 5);
        NbdServer shared = new NbdServer(new NbdExport("big", big), NbdServer.Limits.DEFAULTS);
        SocketAddress where = shared.listen(UnixDomainSocketAddress.of(dir.resolve("shared.sock")));
        try (NbdTestClient greedy = NbdTestClient.connect(where); NbdTestClient other = NbdTestClient.connect(where)) {
            greedy.open("big", true);
            other.open("big", false);
            // Pipelined 1 MiB READs whose replies are never read: more than the server's whole
            // buffer budget and more than it keeps in flight for one connection.
            int requests = 200;
            for (long cookie = 1; cookie <= requests; cookie++) {
                greedy.request(0, 0, cookie, (cookie % 63) << 20, 1 << 20, null);
            }
            byte[] expected = big.bytes();
            // Generous bound: the attack run saw 43 s; a served read takes milliseconds.
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                for (int i = 0; i < 20; i++) {
                    long offset = (long) i << 20;
                    assertArrayEquals(Arrays.copyOfRange(expected, (int) offset, (int) offset + 65536),
                            other.simpleRead(offset, 65536), "at " + offset);
                }
                // Pipelined, so that the workers serve them.
                for (long cookie = 100; cookie < 108; cookie++) {
                    other.request(0, 0, cookie, cookie << 16, 65536, null);
                }
                for (int i = 0; i < 8; i++) {
                    Reply r = other.reply();
                    assertEquals(0, r.error());
                    byte[] data = new byte[65536];
                    other.in.readFully(data);
                    int from = (int) (r.cookie() << 16);
                    assertArrayEquals(Arrays.copyOfRange(expected, from, from + 65536), data, "cookie " + r.cookie());
                }
            }, "the second client's reads were not answered while the first did not read its replies");
            // The replies held back for the first client are whole and right when it reads them at last.
            Map<Long, byte[]> received = new HashMap<>();
            Map<Long, Integer> filled = new HashMap<>();
            while (received.size() < requests || filled.values().stream().anyMatch(n -> n < (1 << 20))) {
                Reply r = greedy.reply();
                assertEquals(0, r.error(), "cookie " + r.cookie());
                byte[] data = received.computeIfAbsent(r.cookie(), k -> new byte[1 << 20]);
                long base = (r.cookie() % 63) << 20;
                ByteBuffer p = ByteBuffer.wrap(r.payload());
                long at = p.getLong();
                int n = r.type() == 1 ? p.remaining() : p.getInt();
                if (r.type() == 1) {
                    p.get(data, (int) (at - base), n);
                }
                filled.merge(r.cookie(), n, Integer::sum);
            }
            for (Map.Entry<Long, byte[]> e : received.entrySet()) {
                int from = (int) ((e.getKey() % 63) << 20);
                assertArrayEquals(Arrays.copyOfRange(expected, from, from + (1 << 20)), e.getValue(), "cookie " + e.getKey());
            }
        } finally {
            shared.shutdown();
        }
    }
}
