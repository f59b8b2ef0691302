package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Memory stays within the configured bounds while the 256 MiB compressed image is read end to end
 * five times with nbdcopy (four connections, many requests in flight): the agent runs with a
 * 256 MiB heap, a 32 MiB cluster cache and a 64 MiB RAM overlay; every read must succeed (an
 * unbounded cache or buffer would hit the heap limit) and the peak resident set must stay under
 * the heap limit plus a fixed allowance for the JVM itself.
 */
class MemoryIT {
    static final long HEAP = 256L << 20;
    /** Metaspace, code cache, thread stacks, GC structures and socket buffers of one JVM. */
    static final long JVM_ALLOWANCE = 192L << 20;

    @TempDir
    Path dir;

    @Test
    void readingA256MiBImageFiveTimesStaysWithinBounds() throws Exception {
        TestImage image = ConformanceImages.named("large-zlib-256m");
        try (AgentProcess agent = AgentProcess.start(dir, List.of("-Xmx" + (HEAP >> 20) + "m"), "--image", image.image().toString(),
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "ram:64M", "--cache-size", "32M")) {
            for (int i = 0; i < 4; i++) {
                Tools.run(dir, "nbdcopy", agent.uri(""), "null:");
            }
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy));
            long peak = peakRss(agent.pid());
            assertTrue(peak <= HEAP + JVM_ALLOWANCE, "peak RSS " + (peak >> 20) + " MiB exceeds " + ((HEAP + JVM_ALLOWANCE) >> 20) + " MiB");
            assertTrue(agent.isAlive());
            assertEquals(0, agent.terminate(), agent.log());
            assertTrue(!agent.log().contains("OutOfMemoryError"), agent.log());
        }
    }

    /** VmHWM from /proc: the most memory the process ever had resident. */
    static long peakRss(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new AssertionError("no VmHWM in /proc/" + pid + "/status");
    }
}
