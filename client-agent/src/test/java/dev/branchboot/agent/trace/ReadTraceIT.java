package dev.branchboot.agent.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import dev.branchboot.testkit.Nginx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --trace} against a real nginx, read whole by a libnbd client as the kernel reads: the trace's reads
 * cover the virtual disk exactly once, and its fetches add up to exactly the bytes nginx sent.
 */
class ReadTraceIT {
    /** Reads a whole export in 128 KiB requests with simple replies, as Linux's nbd driver does. */
    private static final String KERNEL_LIKE_COPY = String.join("\n",
            "import nbd, sys",
            "h = nbd.NBD()",
            "h.set_request_structured_replies(False)",
            "h.connect_uri(sys.argv[1])",
            "size = h.get_size()",
            "with open(sys.argv[2], 'wb') as out:",
            "    for offset in range(0, size, 131072):",
            "        out.write(h.pread(min(131072, size - offset), offset))",
            "h.shutdown()");

    @TempDir
    Path dir;

    @Test
    void theTraceAccountsForEveryReadAndEveryByteTheServerSent() throws Exception {
        TestImage image = ConformanceImages.named("zlib-64k");
        Path root = ConformanceImages.directory();
        Path traceFile = dir.resolve("boot.trace");
        try (Nginx nginx = Nginx.start(dir.resolve("nginx"), root)) {
            String name = root.relativize(image.image()).toString();
            try (AgentProcess agent = AgentProcess.start(dir, AgentProcess.QUICK_JVM, "--server", nginx.imagesUrl(), "--image", name,
                    "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--trace", traceFile.toString())) {
                Path copy = dir.resolve("copy.raw");
                // As the kernel's client reads: simple replies (no structured ones, which would answer
                // holes without reading them), so the reads cover the whole disk.
                Tools.run(dir, "/usr/bin/python3", "-c", KERNEL_LIKE_COPY, agent.uri(""), copy.toString());
                assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy));
                assertEquals(0, agent.terminate(), agent.log());
            }
            List<String> lines = Files.readAllLines(traceFile);
            assertEquals("# branchboot-trace 1", lines.get(0));
            long size = Files.size(image.reference());
            assertTrue(lines.contains("# image " + name + " size " + size), lines.subList(0, 5).toString());
            assertTrue(lines.contains("# file 0 " + name), lines.subList(0, 5).toString());
            TreeMap<Long, Long> reads = new TreeMap<>();
            long fetched = 0;
            for (String line : lines) {
                String[] words = line.split(" ");
                if (words[0].equals("R")) {
                    long offset = Long.parseLong(words[3]);
                    long length = Long.parseLong(words[4]);
                    assertEquals(null, reads.put(offset, length), "read twice: " + line);
                    for (int i = 5; i < words.length; i++) {
                        fetched += fetchLength(words[i]);
                    }
                } else if (words[0].equals("F")) {
                    fetched += fetchLength(words[3]);
                }
            }
            long covered = 0;
            for (var read : reads.entrySet()) {
                assertEquals(covered, read.getKey(), "reads are contiguous");
                covered += read.getValue();
            }
            assertEquals(size, covered, "the reads cover the disk");
            assertEquals(nginx.bytesSent("/images/" + name), fetched, "fetches in the trace = bytes nginx sent");
        }
    }

    private static long fetchLength(String range) {
        return Long.parseLong(range.substring(range.indexOf('+') + 1));
    }
}
