package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.qcow2.DiskImages;
import dev.branchboot.qcow2.Extent;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every image of the conformance set, exported by the real agent (with its default RAM overlay in
 * the stack) and read by real clients: {@code nbdcopy} and {@code qemu-img convert} must produce
 * exactly the bytes of {@code qemu-img convert -O raw}, and {@code nbdinfo --map} must show the
 * image's holes and zeros.
 */
class ExportConformanceIT {
    /** Short-lived agents: quick startup matters more than peak speed (38 of them per run). */
    static final List<String> QUICK_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto");

    @TempDir
    Path dir;

    static List<TestImage> images() throws IOException {
        return ConformanceImages.regular();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void clientsReadExactlyTheReferenceBytes(TestImage image) throws Exception {
        Path socket = dir.resolve("nbd.sock");
        try (AgentProcess agent = AgentProcess.start(dir, QUICK_JVM, "--image", image.image().toString(),
                "--listen", "unix:" + socket, "--cow", "ram:64M")) {
            String uri = agent.uri("");
            Path viaNbdcopy = dir.resolve("nbdcopy.raw");
            Tools.run(dir, "nbdcopy", uri, viaNbdcopy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), viaNbdcopy), "nbdcopy differs at this offset");

            Path viaQemu = dir.resolve("qemu.raw");
            Tools.run(dir, "qemu-img", "convert", "-f", "raw", "-O", "raw", agent.uri(image.image().getFileName().toString()),
                    viaQemu.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), viaQemu), "qemu-img convert differs at this offset");

            assertEquals(expectedMap(image), parseMap(Tools.run(dir, "nbdinfo", "--map", uri)), "nbdinfo --map");
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    @Test
    void hugeSparseImageMapsToAFewExtentsAndItsDataReads() throws Exception {
        TestImage image = ConformanceImages.named("sparse-64g");
        try (AgentProcess agent = AgentProcess.start(dir, QUICK_JVM, "--image", image.image().toString(),
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none")) {
            List<String> map = parseMap(Tools.run(dir, "nbdinfo", "--map", agent.uri("")));
            assertEquals(expectedMap(image), map);
            assertTrue(map.size() < 20, "a sparse 64 GiB disk is a handful of extents");
            // The written regions read back through qemu-io with the patterns qemu-io wrote.
            Tools.run(dir, "qemu-io", "-r", "-f", "raw", "-c", "read -P 0xe2 1G 64k", "-c", "read -P 0xe3 17G 64k",
                    "-c", "read -P 0xe5 68719411200 65536", "-c", "read -P 0 2G 1M", agent.uri(""));
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    /** The library's allocation map, as base:allocation states, with neighbours of equal state merged. */
    static List<String> expectedMap(TestImage image) throws IOException {
        List<long[]> out = new ArrayList<>();
        try (VirtualDisk disk = DiskImages.open(image.image(), ImageOptions.DEFAULTS)) {
            for (Extent e : disk.extents(0, disk.size())) {
                int state = switch (e.allocation()) {
                    case DATA -> 0;
                    case ZERO -> 2;
                    case HOLE -> 3;
                };
                add(out, e.offset(), e.length(), state);
            }
        }
        return strings(out);
    }

    private static List<String> strings(List<long[]> list) {
        return list.stream().map(e -> e[0] + "+" + e[1] + ":" + e[2]).toList();
    }

    /** Parses {@code nbdinfo --map} lines "offset length type description". */
    static List<String> parseMap(String text) {
        List<long[]> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 3) {
                add(out, Long.parseLong(f[0]), Long.parseLong(f[1]), Integer.parseInt(f[2]));
            }
        }
        return strings(out);
    }

    private static void add(List<long[]> list, long offset, long length, int state) {
        if (!list.isEmpty()) {
            long[] last = list.get(list.size() - 1);
            if (last[2] == state && last[0] + last[1] == offset) {
                last[1] += length;
                return;
            }
        }
        list.add(new long[] {offset, length, state});
    }
}
