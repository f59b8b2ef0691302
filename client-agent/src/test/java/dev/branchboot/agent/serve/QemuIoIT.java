package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writes, zeroes and trims from {@code qemu-io} through the real agent, checked against an
 * in-memory model by reading the whole export back with {@code nbdcopy}; the image file must stay
 * byte-identical, and a file overlay must survive FLUSH, SIGKILL and a restart.
 */
class QemuIoIT {
    @TempDir
    Path dir;

    /** The expected disk: bytes, and which of them a TRIM left unspecified. */
    static final class Model {
        final byte[] bytes;
        final boolean[] unknown;

        Model(byte[] bytes) {
            this.bytes = bytes;
            this.unknown = new boolean[bytes.length];
        }
    }

    /** {@code count} random qemu-io commands, applied to the model as they are made. */
    static List<String> randomCommands(Random r, Model m, int count) {
        List<String> commands = new ArrayList<>();
        int size = m.bytes.length;
        for (int i = 0; i < count; i++) {
            boolean aligned = r.nextBoolean();
            int length = r.nextInt(8) == 0 ? 1 + r.nextInt(4 << 20) : 1 + r.nextInt(256 * 1024);
            length = Math.min(length, size);
            if (aligned) {
                length = Math.max(512, length / 512 * 512);
            }
            int offset = r.nextInt(size - length + 1);
            if (aligned) {
                offset = offset / 512 * 512;
            }
            int kind = r.nextInt(10);
            if (kind < 6) {
                int pattern = 1 + r.nextInt(255);
                commands.add("write " + (r.nextInt(5) == 0 ? "-f " : "") + "-P " + pattern + " " + offset + " " + length);
                Arrays.fill(m.bytes, offset, offset + length, (byte) pattern);
                Arrays.fill(m.unknown, offset, offset + length, false);
            } else if (kind < 8) {
                commands.add("write -z " + (r.nextBoolean() ? "-u " : "") + offset + " " + length);
                Arrays.fill(m.bytes, offset, offset + length, (byte) 0);
                Arrays.fill(m.unknown, offset, offset + length, false);
            } else if (kind < 9) {
                commands.add("discard " + offset + " " + length);
                Arrays.fill(m.unknown, offset, offset + length, true);
            } else {
                commands.add("flush");
            }
        }
        return commands;
    }

    static void qemuIo(Path dir, String uri, List<String> commands) throws Exception {
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(uri);
        Tools.run(dir, command);
    }

    /** Reads the whole export with nbdcopy and compares it with the model, skipping trimmed bytes. */
    static void assertExportMatches(Path dir, String uri, Model m) throws Exception {
        Path copy = dir.resolve("readback.raw");
        Files.deleteIfExists(copy);
        Tools.run(dir, "nbdcopy", uri, copy.toString());
        byte[] got = Files.readAllBytes(copy);
        assertEquals(m.bytes.length, got.length);
        for (int i = 0; i < got.length; i++) {
            if (!m.unknown[i] && got[i] != m.bytes[i]) {
                throw new AssertionError("byte " + i + " reads " + got[i] + ", expected " + m.bytes[i]);
            }
        }
    }

    static byte[] sha256(Path file) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
    }

    @Test
    void randomWritesZeroesAndTrimsReadBackAndTheImageStaysUntouched() throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        byte[] imageHash = sha256(image.image());
        long modified = Files.getLastModifiedTime(image.image()).toMillis();
        Model model = new Model(Files.readAllBytes(image.reference()));
        Random random = new Random(20261125);
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), "--image", image.image().toString(),
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "ram:256M")) {
            for (int round = 0; round < 6; round++) {
                qemuIo(dir, agent.uri(""), randomCommands(random, model, 40));
                assertExportMatches(dir, agent.uri(""), model);
            }
            // Reads at many small offsets through qemu-io itself, with patterns it checks.
            List<String> reads = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                int offset = random.nextInt(model.bytes.length - 4096);
                int length = 1 + random.nextInt(4096);
                if (allKnownAndEqual(model, offset, length)) {
                    reads.add("read -P " + (model.bytes[offset] & 0xff) + " " + offset + " " + length);
                }
            }
            qemuIo(dir, agent.uri(""), reads);
            assertEquals(0, agent.terminate(), agent.log());
        }
        assertArrayEquals(imageHash, sha256(image.image()), "the image file was modified");
        assertEquals(modified, Files.getLastModifiedTime(image.image()).toMillis());
    }

    private static boolean allKnownAndEqual(Model m, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (m.unknown[i] || m.bytes[i] != m.bytes[offset]) {
                return false;
            }
        }
        return true;
    }

    @Test
    void fileOverlaySurvivesFlushSigkillAndRestartAndRefusesAnotherImage() throws Exception {
        TestImage image = ConformanceImages.named("chain-top");
        TestImage other = ConformanceImages.named("plain-64k");
        byte[] imageHash = sha256(image.image());
        Path overlay = dir.resolve("state/pc.cow");
        String[] args = {"--image", image.image().toString(), "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "file:" + overlay};
        Model model = new Model(Files.readAllBytes(image.reference()));
        Random random = new Random(77);

        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args)) {
            List<String> commands = randomCommands(random, model, 60);
            commands.add("flush");
            qemuIo(dir, agent.uri(""), commands);
            agent.kill(); // SIGKILL: only what FLUSH made durable may survive, and it must
        }
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args)) {
            assertExportMatches(dir, agent.uri(""), model);
            qemuIo(dir, agent.uri(""), randomCommands(random, model, 30));
            assertEquals(0, agent.terminate(), "SIGTERM exits 0 after flushing:\n" + agent.log());
        }
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), args)) {
            assertExportMatches(dir, agent.uri(""), model);
            assertEquals(0, agent.terminate(), agent.log());
        }
        assertArrayEquals(imageHash, sha256(image.image()), "the image file was modified");

        String[] otherArgs = {"--image", other.image().toString(), "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "file:" + overlay};
        AgentProcess.Result refused = AgentProcess.runToExit(dir, otherArgs);
        assertEquals(1, refused.exitCode(), refused.output());
        assertTrue(refused.output().contains("revision") && refused.output().contains("--cow-reset"), refused.output());
        assertTrue(!Files.exists(dir.resolve("nbd.sock")), "no socket appears for an export that failed to start");

        String[] reset = Arrays.copyOf(otherArgs, otherArgs.length + 1);
        reset[otherArgs.length] = "--cow-reset";
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), reset)) {
            Path copy = dir.resolve("other.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(other.reference(), copy));
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    @Test
    void qemuImgConvertAndNbdcopyWriteWholeDisksOntoTheExport() throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        TestImage source = ConformanceImages.named("zero-clusters"); // 4 MiB with zero runs: WRITE_ZEROES, FAST_ZERO
        Path raw = dir.resolve("mixed.raw");
        ConformanceImages.writeMixedContent(raw, image.virtualSize(), 99);
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), "--image", image.image().toString(),
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "ram:256M")) {
            Model model = new Model(Files.readAllBytes(image.reference()));
            byte[] written = Files.readAllBytes(source.reference());
            System.arraycopy(written, 0, model.bytes, 0, written.length);
            Tools.run(dir, "qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", source.image().toString(), agent.uri(""));
            assertExportMatches(dir, agent.uri(""), model);

            Tools.run(dir, "nbdcopy", raw.toString(), agent.uri(""));
            Path back = dir.resolve("back.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), back.toString());
            assertEquals(-1, ByteComparison.firstDifference(raw, back));
            assertEquals(0, agent.terminate(), agent.log());
        }
    }
}
