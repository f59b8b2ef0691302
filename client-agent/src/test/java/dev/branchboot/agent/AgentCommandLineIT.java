package dev.branchboot.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the packaged {@code branchboot-agent.jar} as a user would: output, exit codes, error lines. */
class AgentCommandLineIT {

    @TempDir
    Path tmp;

    record Result(int exit, String out, String err) {
    }

    private Result agent(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("java", "-jar", System.getProperty("branchboot.agent.jar")));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectOutput(tmp.resolve("out").toFile()).redirectError(tmp.resolve("err").toFile()).start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "agent did not finish");
        return new Result(p.exitValue(), Files.readString(tmp.resolve("out"), StandardCharsets.ISO_8859_1),
                Files.readString(tmp.resolve("err")));
    }

    @Test
    void catToStdoutEqualsQemuImgConvert() throws Exception {
        var image = ConformanceImages.named("chain-top");
        Result r = agent("cat", image.image().toString());
        assertEquals(0, r.exit(), r.err());
        Path out = tmp.resolve("stdout.raw");
        Files.move(tmp.resolve("out"), out);
        assertEquals(-1, ByteComparison.firstDifference(image.reference(), out));
    }

    @Test
    void catOfTheLargeImageWithProgress() throws Exception {
        var image = ConformanceImages.named("large-zlib-256m");
        Path out = tmp.resolve("large.raw");
        Result r = agent("cat", "--progress", image.image().toString(), "-o", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("(100.00/100%)"), r.err());
        assertEquals(-1, ByteComparison.firstDifference(image.reference(), out));
    }

    @Test
    void helpAndVersion() throws Exception {
        Result r = agent("--help");
        assertEquals(0, r.exit());
        assertTrue(r.out().contains("info") && r.out().contains("cat"), r.out());
        r = agent("cat", "--help");
        assertEquals(0, r.exit());
        assertTrue(r.out().contains("--output"), r.out());
        r = agent("--version");
        assertEquals(0, r.exit());
        assertTrue(r.out().startsWith("branchboot-agent "), r.out());
    }

    @Test
    void errorsAreOneLineWithAStatus() throws Exception {
        Result missing = agent("info", tmp.resolve("nope.qcow2").toString());
        assertEquals(1, missing.exit());
        assertEquals("info: " + tmp.resolve("nope.qcow2") + ": no such file\n", missing.err());

        Path notQcow2 = tmp.resolve("text.qcow2");
        Files.writeString(notQcow2, "hello, this is not a disk image".repeat(10));
        Result bad = agent("cat", notQcow2.toString(), "-o", tmp.resolve("x.raw").toString());
        assertEquals(1, bad.exit());
        assertTrue(bad.err().matches("cat: .*text.qcow2: at offset 0 \\(0x0\\): not a QCOW2 image \\(magic 0x68656c6c\\)\n"), bad.err());
        assertTrue(Files.notExists(tmp.resolve("x.raw")));

        Result usage = agent("cat");
        assertEquals(2, usage.exit());
        assertTrue(usage.err().startsWith("cat: Missing required parameter: 'IMAGE'"), usage.err());

        Result badOption = agent("cat", "--chunk-size", "lots", notQcow2.toString());
        assertEquals(2, badOption.exit());
        assertTrue(badOption.err().contains("'lots' is not a size"), badOption.err());

        Result unknown = agent("cat", "--frobnicate", notQcow2.toString());
        assertEquals(2, unknown.exit());
        assertEquals("cat: Unknown option: '--frobnicate'\nTry 'branchboot-agent cat --help' for more information.\n", unknown.err());

        Result noCommand = agent("launch");
        assertEquals(2, noCommand.exit());
        assertTrue(noCommand.err().startsWith("branchboot-agent: unknown command 'launch'"), noCommand.err());

        Result badThreads = agent("cat", "--threads", "0", notQcow2.toString());
        assertEquals(2, badThreads.exit());
        assertTrue(badThreads.err().contains("'--threads' must be a whole number from 1 to 256"), badThreads.err());

        Result raw = agent("info", "--format", "raw", notQcow2.toString());
        assertEquals(0, raw.exit(), raw.err());
        assertTrue(raw.out().contains("file format: raw"), raw.out());
    }

    @Test
    void aPersonAtATerminalIsToldWhatIsRetriedAndGetsAnAnswerSoon() throws Exception {
        int closed;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = socket.getLocalPort();
        }
        // info against a server that refuses connections: retried for the interactive 20 s, not a root disk's 5 min.
        long started = System.nanoTime();
        Result refused = agent("info", "http://127.0.0.1:" + closed + "/images/x.qcow2");
        long seconds = java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
        assertEquals(1, refused.exit(), refused.err());
        assertTrue(refused.err().contains("retrying for up to 20 s (--retry-deadline)"), refused.err());
        assertTrue(refused.err().contains("x.qcow2") && refused.err().contains("no server answered within 20 s"), refused.err());
        assertTrue(seconds < 120, "info gave up after " + seconds + " s");
        Result shorter = agent("info", "--retry-deadline", "1s", "http://127.0.0.1:" + closed + "/images/x.qcow2");
        assertTrue(shorter.err().contains("retrying for up to 1 s"), shorter.err());
        // The root disk's default is unchanged, and every failure names its cause.
        assertTrue(agent("serve", "--help").out().replaceAll("\\s+", " ").contains("(default: 5m;"));
        assertTrue(agent("info", "--help").out().replaceAll("\\s+", " ").contains("(default: 20s;"));
        Result badListen = agent("serve", "--image", "x.qcow2", "--listen", "tcp:999.1.1.1:1");
        assertEquals(2, badListen.exit(), badListen.err());
        assertTrue(badListen.err().contains("999.1.1.1") && !badListen.err().contains("null"), badListen.err());
        Result outside = agent("info", "--server", "http://127.0.0.1:" + closed + "/images", "--image", "../secret.qcow2");
        assertEquals(2, outside.exit(), outside.err());
        assertTrue(outside.err().contains("leads out of the servers' images folder"), outside.err());
    }

    @Test
    void interruptedCatLeavesNoPartialFile() throws Exception {
        var image = ConformanceImages.named("large-zlib-256m");
        Path out = tmp.resolve("target.raw");
        Files.writeString(out, "previous contents");
        Process p = new ProcessBuilder("java", "-jar", System.getProperty("branchboot.agent.jar"), "cat", image.image().toString(),
                "-o", out.toString()).redirectErrorStream(true).redirectOutput(tmp.resolve("cat.log").toFile()).start();
        // Kill it in the middle of the copy: once its temporary file holds bytes, before the rename.
        Path partial = tmp.resolve(".target.raw.partial-" + p.pid());
        org.awaitility.Awaitility.await("the copy to be under way").atMost(java.time.Duration.ofSeconds(60))
                .pollInterval(java.time.Duration.ofMillis(5))
                .until(() -> !p.isAlive() || (Files.exists(partial) && Files.size(partial) > 0));
        assertTrue(p.isAlive(), "cat finished before it could be interrupted: " + Files.readString(tmp.resolve("cat.log")));
        p.destroyForcibly().waitFor();
        assertEquals("previous contents", Files.readString(out), "a killed copy must leave the target as it was");
    }
}
