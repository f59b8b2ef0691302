package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.nbd.NbdTestClient;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code serve} command's life cycle: usage errors, readiness, SIGTERM, a socket already in use. */
class ServeCommandIT {
    @TempDir
    Path dir;

    @Test
    void badUsageExitsTwoAndBadImagesExitOneWithOneLine() throws Exception {
        TestImage image = ConformanceImages.named("zlib-4k");
        AgentProcess.Result badListen = AgentProcess.runToExit(dir, "--image", image.image().toString(), "--listen", "udp:x");
        assertEquals(2, badListen.exitCode(), badListen.output());
        assertTrue(badListen.output().contains("unix:PATH or tcp:HOST:PORT"), badListen.output());
        AgentProcess.Result badCow = AgentProcess.runToExit(dir, "--image", image.image().toString(), "--cow", "disk");
        assertEquals(2, badCow.exitCode(), badCow.output());
        AgentProcess.Result resetWithoutFile = AgentProcess.runToExit(dir, "--image", image.image().toString(), "--cow-reset");
        assertEquals(2, resetWithoutFile.exitCode(), resetWithoutFile.output());
        Path socket = dir.resolve("nbd.sock");
        AgentProcess.Result missing = AgentProcess.runToExit(dir, "--image", dir.resolve("nope.qcow2").toString(), "--listen", "unix:" + socket);
        assertEquals(1, missing.exitCode(), missing.output());
        assertEquals(1, missing.output().trim().lines().count(), missing.output());
        assertTrue(missing.output().contains("nope.qcow2"), missing.output());
        assertFalse(Files.exists(socket), "no socket for an export that never became ready");
    }

    @Test
    void sigtermFlushesTheFileOverlayAndExitsZero() throws Exception {
        TestImage image = ConformanceImages.named("zstd-64k");
        Path socket = dir.resolve("nbd.sock");
        String[] args = {"--image", image.image().toString(), "--listen", "unix:" + socket, "--cow", "file:" + dir.resolve("pc.cow"),
                "--export-name", "lab"};
        byte[] data = new byte[300_000];
        new Random(3).nextBytes(data);
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args)) {
            assertTrue(Files.exists(socket), "the socket exists once the ready file does");
            try (NbdTestClient c = NbdTestClient.connect(UnixDomainSocketAddress.of(socket))) {
                c.open("lab", false);
                c.request(0, 1, 1, 12345, data.length, data); // no FLUSH, no FUA
                assertEquals(0, c.reply().error());
            }
            assertEquals(0, agent.terminate(), agent.log());
            assertFalse(Files.exists(socket), "the socket is removed on exit");
        }
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args);
             NbdTestClient c = NbdTestClient.connect(UnixDomainSocketAddress.of(socket))) {
            c.open("lab", true);
            assertArrayEquals(data, c.structuredRead(12345, data.length, 1), "the write survived SIGTERM and a restart");
            agent.terminate();
        }
    }

    @Test
    void aSecondAgentOnTheSameSocketIsRefusedAndAStaleSocketIsReplaced() throws Exception {
        TestImage image = ConformanceImages.named("zlib-4k");
        Path socket = dir.resolve("nbd.sock");
        String[] args = {"--image", image.image().toString(), "--listen", "unix:" + socket, "--cow", "none"};
        try (AgentProcess first = AgentProcess.start(dir, List.of(), args)) {
            AgentProcess.Result second = AgentProcess.runToExit(dir, args);
            assertEquals(1, second.exitCode(), second.output());
            assertTrue(second.output().contains("already listening"), second.output());
            assertTrue(first.isAlive());
            first.kill(); // leaves a stale socket file behind
        }
        assertTrue(Files.exists(socket));
        try (AgentProcess again = AgentProcess.start(dir, List.of(), args)) {
            Tools.run(dir, "nbdinfo", again.uri(""));
            assertEquals(0, again.terminate(), again.log());
        }
    }

    @Test
    void sigtermDuringAStreamOfWritesAnswersWhatItReadAndKeepsEveryAcknowledgedWrite() throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        Path socket = dir.resolve("nbd.sock");
        String[] args = {"--image", image.image().toString(), "--listen", "unix:" + socket, "--cow", "file:" + dir.resolve("pc.cow")};
        int writes = 120;
        int length = 65536;
        java.util.Set<Long> acknowledged = java.util.concurrent.ConcurrentHashMap.newKeySet();
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args);
             NbdTestClient c = NbdTestClient.connect(UnixDomainSocketAddress.of(socket))) {
            c.open("", false);
            Thread sender = new Thread(() -> {
                try {
                    for (long i = 0; i < writes; i++) {
                        byte[] data = new byte[length];
                        java.util.Arrays.fill(data, (byte) (i + 1));
                        c.request(0, 1, i + 1, i * length, length, data);
                    }
                } catch (java.io.IOException e) {
                    // the agent stopped reading and closed: expected once SIGTERM arrives
                }
            });
            sender.start();
            boolean signalled = false;
            try {
                while (true) {
                    NbdTestClient.Reply r = c.reply();
                    assertEquals(0, r.error(), "every request the agent read is answered, and successfully");
                    acknowledged.add(r.cookie());
                    if (!signalled) {
                        agent.terminate(); // returns once the agent has drained and exited
                        signalled = true;
                    }
                }
            } catch (java.io.IOException end) {
                // the agent closed the connection after draining
            }
            sender.join();
            assertTrue(signalled && !acknowledged.isEmpty());
        }
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args);
             NbdTestClient c = NbdTestClient.connect(UnixDomainSocketAddress.of(socket))) {
            c.open("", false);
            for (long cookie : acknowledged) {
                byte[] expected = new byte[length];
                java.util.Arrays.fill(expected, (byte) cookie);
                assertArrayEquals(expected, c.simpleRead((cookie - 1) * length, length), "acknowledged write " + cookie);
            }
            agent.terminate();
        }
    }

    @Test
    void theOomScoreAdjustmentReachesTheKernelAndABadOneIsAUsageError() throws Exception {
        TestImage image = ConformanceImages.named("zlib-4k");
        Path socket = dir.resolve("nbd.sock");
        // Raising the score needs no privilege, so this runs as any user; a root disk uses -1000.
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), "--image", image.image().toString(), "--listen", "unix:" + socket,
                "--cow", "none", "--oom-score-adj", "321")) {
            assertEquals("321", Files.readString(Path.of("/proc", Long.toString(agent.pid()), "oom_score_adj")).trim());
            assertEquals(0, agent.terminate(), agent.log());
        }
        AgentProcess.Result outOfRange = AgentProcess.runToExit(dir, "--image", image.image().toString(), "--listen", "unix:" + socket,
                "--oom-score-adj", "-1001");
        assertEquals(2, outOfRange.exitCode(), outOfRange.output());
        assertTrue(outOfRange.output().contains("--oom-score-adj"), outOfRange.output());
    }
}
