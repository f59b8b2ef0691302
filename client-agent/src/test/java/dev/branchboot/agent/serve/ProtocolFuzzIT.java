package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.nbd.NbdTestClient;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded protocol fuzzing of the real agent over TCP: garbage, mutated handshakes, and valid
 * sessions full of bad requests (unknown commands and flags, out-of-range offsets, lying lengths,
 * truncated payloads). The agent must answer or close every one of them, stay up, and a
 * well-behaved client connected the whole time must read and write its region undisturbed.
 * The seed is {@code -Dfuzz.seed=N} (default fixed) so a failure can be replayed.
 */
class ProtocolFuzzIT {
    static final int CONNECTIONS = Integer.getInteger("fuzz.connections", 1200);
    static final long SEED = Long.getLong("fuzz.seed", 4242);

    @TempDir
    Path dir;

    @Test
    void fuzzedClientsNeverCrashOrHangTheAgentNorDisturbAGoodClient() throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        byte[] reference = Files.readAllBytes(image.reference());
        long size = reference.length;
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), "--image", image.image().toString(),
                "--listen", "tcp:127.0.0.1:0", "--cow", "ram:64M")) {
            String hostPort = agent.address().substring(4);
            int port = Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", port);

            AtomicBoolean fuzzing = new AtomicBoolean(true);
            AtomicLong goodRounds = new AtomicLong();
            AtomicReference<Throwable> goodFailure = new AtomicReference<>();
            Thread good = new Thread(() -> {
                // The upper half of the disk belongs to this client; fuzzers only write below it.
                try (NbdTestClient c = NbdTestClient.connect(address)) {
                    c.open("", true);
                    Random r = new Random(1);
                    long cookie = 1;
                    while (fuzzing.get() || goodRounds.get() < 10) {
                        int length = 1 + r.nextInt(200_000);
                        long offset = size / 2 + r.nextInt((int) (size / 2) - length);
                        byte[] before = c.structuredRead(offset, length, cookie++);
                        byte[] data = new byte[length];
                        r.nextBytes(data);
                        c.request(0, 1, cookie++, offset, length, data);
                        NbdTestClient.Reply reply = c.reply();
                        assertEquals(0, reply.error());
                        assertArrayEquals(data, c.structuredRead(offset, length, cookie++), "good client read back its write");
                        assertTrue(before.length == length);
                        goodRounds.incrementAndGet();
                    }
                } catch (Throwable t) {
                    goodFailure.set(t);
                }
            }, "good-client");
            good.start();

            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int i = 0; i < CONNECTIONS; i++) {
                    long seed = SEED * 1_000_003L + i;
                    futures.add(pool.submit(() -> {
                        fuzzOne(address, new Random(seed), size, seed);
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                fuzzing.set(false);
                pool.shutdown();
            }
            good.join();
            if (goodFailure.get() != null) {
                throw new AssertionError("the well-behaved client was disturbed:\n" + agent.log(), goodFailure.get());
            }
            assertTrue(agent.isAlive(), agent.log());
            // Still serving: the untouched lower-half byte ranges are gone (fuzzers wrote there), but
            // a fresh client gets a full, well-formed export.
            String info = Tools.run(dir, "nbdinfo", agent.uri(""));
            assertTrue(info.contains("export-size: " + size), info);
            assertEquals(0, agent.terminate(), agent.log());
            String log = agent.log();
            if (Boolean.getBoolean("fuzz.printLog")) {
                System.out.println(log);
            }
            // A RuntimeException in the agent is logged as "failed: java..."; bad input must never cause one.
            assertTrue(!log.contains("SEVERE") && !log.contains("failed: java.") && !log.contains("Error"), log);
        }
    }

    /** One fuzzed connection: send, half-close, and read until the agent closes. */
    static void fuzzOne(InetSocketAddress address, Random r, long size, long seed) throws Exception {
        byte[] stream = switch (r.nextInt(4)) {
            case 0 -> garbage(r, 1 + r.nextInt(4096));
            case 1 -> mutate(r, handshake(r, true));
            case 2 -> concat(handshake(r, false), requests(r, size, 1 + r.nextInt(40)));
            default -> mutate(r, concat(handshake(r, false), requests(r, size, 1 + r.nextInt(10))));
        };
        try (Socket s = new Socket()) {
            s.connect(address);
            // A hang guard, not a timing assertion: the agent must close once we stop sending.
            s.setSoTimeout(120_000);
            InputStream in = s.getInputStream();
            Thread drain = new Thread(() -> {
                byte[] buf = new byte[65536];
                try {
                    while (in.read(buf) >= 0) {
                        // replies are not checked here; the unit tests check their contents
                    }
                } catch (SocketTimeoutException e) {
                    throw new AssertionError("agent neither answered nor closed (seed " + seed + ")", e);
                } catch (IOException e) {
                    // reset by the agent after a protocol violation: fine
                }
            });
            drain.start();
            try {
                OutputStream out = s.getOutputStream();
                out.write(stream);
                out.flush();
                s.shutdownOutput();
            } catch (IOException e) {
                // the agent closed early (it may disconnect on garbage): fine
            }
            drain.join();
        }
    }

    static byte[] garbage(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /** Flips, inserts or deletes a few bytes, or truncates. */
    static byte[] mutate(Random r, byte[] in) {
        byte[] b = in.clone();
        int mutations = 1 + r.nextInt(4);
        for (int i = 0; i < mutations && b.length > 0; i++) {
            int at = r.nextInt(b.length);
            switch (r.nextInt(4)) {
                case 0 -> b[at] = (byte) r.nextInt(256);
                case 1 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 2 -> b = Arrays.copyOf(b, at);
                default -> {
                    byte[] extra = garbage(r, 1 + r.nextInt(16));
                    byte[] c = new byte[b.length + extra.length];
                    System.arraycopy(b, 0, c, 0, at);
                    System.arraycopy(extra, 0, c, at, extra.length);
                    System.arraycopy(b, at, c, at + extra.length, b.length - at);
                    b = c;
                }
            }
        }
        return b;
    }

    /** Client flags and options; with {@code wild}, also odd options and lying lengths. */
    static byte[] handshake(Random r, boolean wild) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(r.nextInt(4) == 0 ? 1 : 3);
        boolean structured = r.nextBoolean();
        int extra = wild ? r.nextInt(6) : r.nextInt(2);
        for (int i = 0; i < extra; i++) {
            int option = r.nextInt(14);
            byte[] data = switch (option) {
                case 6, 7 -> NbdTestClient.goData(r.nextBoolean() ? "" : "nope", 1, 3);
                case 9, 10 -> NbdTestClient.metaData("", "base:allocation", "x:y");
                default -> garbage(r, r.nextInt(3) == 0 ? r.nextInt(64) : 0);
            };
            if (option == 1 || option == 2 || option == 7) {
                continue; // would end the handshake early; covered by the mutations
            }
            out.writeLong(NbdTestClient.IHAVEOPT);
            out.writeInt(option);
            out.writeInt(wild && r.nextInt(4) == 0 ? r.nextInt() : data.length);
            out.write(data);
        }
        if (structured) {
            out.writeLong(NbdTestClient.IHAVEOPT);
            out.writeInt(8);
            out.writeInt(0);
            byte[] meta = NbdTestClient.metaData("", "base:allocation");
            out.writeLong(NbdTestClient.IHAVEOPT);
            out.writeInt(10);
            out.writeInt(meta.length);
            out.write(meta);
        }
        if (r.nextInt(5) == 0) {
            byte[] name = "zlib-64k.qcow2".getBytes(StandardCharsets.UTF_8);
            out.writeLong(NbdTestClient.IHAVEOPT);
            out.writeInt(1);
            out.writeInt(name.length);
            out.write(name);
        } else {
            byte[] go = NbdTestClient.goData("", 3);
            out.writeLong(NbdTestClient.IHAVEOPT);
            out.writeInt(7);
            out.writeInt(go.length);
            out.write(go);
        }
        return bytes.toByteArray();
    }

    /** Requests with random types, flags, offsets and lengths; writes only land in the lower half. */
    static byte[] requests(Random r, long size, int count) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        long[] edgeOffsets = {size, size + 1, Long.MIN_VALUE, -1L, -512L, 1L << 40};
        long[] edgeLengths = {0, 1, 512, 0xFFFFFFFFL, (32 << 20) + 1, 1 << 25};
        for (int i = 0; i < count; i++) {
            int type = r.nextInt(10) < 8 ? r.nextInt(9) : r.nextInt(65536);
            int flags = switch (r.nextInt(5)) {
                case 0, 1 -> 0;
                case 2 -> 1 << r.nextInt(6);
                default -> r.nextInt(65536);
            };
            long offset;
            long length;
            if (r.nextInt(3) == 0) {
                offset = edgeOffsets[r.nextInt(edgeOffsets.length)];
                length = edgeLengths[r.nextInt(edgeLengths.length)];
            } else {
                length = r.nextInt(300_000);
                offset = r.nextInt((int) (size / 2 - length));
            }
            if (type == 2 && r.nextBoolean()) {
                type = 0; // keep most sessions going past DISC
            }
            out.writeInt(r.nextInt(50) == 0 ? r.nextInt() : NbdTestClient.REQUEST_MAGIC);
            out.writeShort(flags);
            out.writeShort(type);
            out.writeLong(r.nextLong());
            out.writeLong(offset);
            out.writeInt((int) length);
            if (type == 1) {
                // Usually the whole payload; sometimes a payload shorter than the header claims.
                long send = length <= (1 << 20) || r.nextInt(4) == 0 ? Math.min(length, 1 << 20) : r.nextInt(1000);
                out.write(garbage(r, (int) send));
            }
            if (r.nextInt(30) == 0) {
                out.write(garbage(r, 1 + r.nextInt(40)));
            }
        }
        return bytes.toByteArray();
    }
}
