package dev.branchboot.server.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.ObjectMapper;

/**
 * A branch in front of the fixture's origin, as a site runs them: the branch's scripts name the
 * branch first and its upstreams after it, the kernel and initramfs they name come through the
 * branch, the second PC's copy costs the origin nothing, and a kernel republished under the same
 * name reaches new PCs like any image revision.
 */
class BootThroughBranchTest extends BootFixture {

    @TempDir
    Path cache;

    private BranchServer branch(String upstreams, String... extra) {
        List<String> args = new ArrayList<>(List.of("--branchboot.cache.revalidate-interval=100ms"));
        for (String[] setting : profileSettings("--")) {
            args.add(setting[0] + "=" + setting[1]);
        }
        args.addAll(List.of(extra));
        return BranchServer.start(upstreams, cache, args.toArray(String[]::new));
    }

    /** What the origin has sent as image bodies so far (its own metric). */
    private double originImageBytes() {
        return body(get("/actuator/prometheus")).lines()
                .filter(l -> l.startsWith("branchboot_response_bytes_total{") && l.contains("route=\"image\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    void theBranchHandsOutItselfThenItsUpstreamsAndCachesKernelAndInitramfs() {
        String upstream = origin() + "/images";
        // a file: upstream is a path on the branch and must not reach a public script (an upstream with a password
        // does not even start a branch: StartupValidationTest)
        try (BranchServer branch = branch(upstream + "," + IMAGES.toUri())) {
            String self = "http://127.0.0.1:" + branch.port();
            String script = body(branch.get("/boot/lab.ipxe"));
            List<String> kernel = BootScriptTest.wordsOf(script, "kernel");
            assertEquals(self + "/images/boot/vmlinuz", kernel.get(1));
            assertEquals("branchboot.server=" + self + "/images," + upstream, kernel.get(3));
            assertTrue(!script.contains("file:"), script);
            List<String> initrd = BootScriptTest.wordsOf(script, "initrd");
            String initrdUrl = initrd.get(initrd.size() - 1);
            assertEquals(self + "/images/boot/initrd.img", initrdUrl);

            double before = originImageBytes();
            assertArrayEquals(KERNEL, BootScriptTest.fetch(kernel.get(1)));
            assertArrayEquals(INITRD, BootScriptTest.fetch(initrdUrl));
            double firstPc = originImageBytes() - before;
            assertTrue(firstPc >= KERNEL.length + INITRD.length, "the origin sent " + firstPc);
            branch.awaitCached(KERNEL.length + INITRD.length);

            double second = originImageBytes();
            assertArrayEquals(KERNEL, BootScriptTest.fetch(kernel.get(1)));
            assertArrayEquals(INITRD, BootScriptTest.fetch(initrdUrl));
            assertEquals(0, originImageBytes() - second, "the second PC's kernel and initramfs must not cross the uplink");
        }
    }

    @Test
    void aKernelRepublishedUnderItsNameReachesNewPcs() throws Exception {
        Path boot = IMAGES.resolve("boot");
        Files.write(boot.resolve("vmlinuz-2"), KERNEL_2);
        Path name = boot.resolve("vmlinuz-next");
        Files.deleteIfExists(name);
        Files.createSymbolicLink(name, Path.of("vmlinuz-1"));
        try (BranchServer branch = branch(origin() + "/images")) {
            HttpResponse<byte[]> first = branch.get("/images/boot/vmlinuz-next");
            assertArrayEquals(KERNEL, first.body());
            assertEquals("/images/boot/vmlinuz-1", first.headers().firstValue("Content-Location").orElseThrow());
            // published as a publisher does: a new file, then the name repointed atomically
            Path link = boot.resolve(".vmlinuz-next.new");
            Files.createSymbolicLink(link, Path.of("vmlinuz-2"));
            Files.move(link, name, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Awaitility.await("the branch to serve the new kernel").atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> java.util.Arrays.equals(KERNEL_2, branch.get("/images/boot/vmlinuz-next").body()));
            HttpResponse<byte[]> next = branch.get("/images/boot/vmlinuz-next");
            assertEquals("/images/boot/vmlinuz-2", next.headers().firstValue("Content-Location").orElseThrow());
            // a PC that pinned the first revision still gets it whole
            String etag = first.headers().firstValue("ETag").orElseThrow();
            assertArrayEquals(KERNEL, branch.get("/images/boot/vmlinuz-1", "If-Match", etag).body());
        } finally {
            Files.deleteIfExists(name);
        }
    }

    @Test
    void withoutADefaultProfileAnUnmappedMachineGets404NamingTheSettings() throws Exception {
        try (BranchServer branch = branch(origin() + "/images")) {
            HttpResponse<byte[]> response = branch.get("/boot/mac/52-54-00-12-34-56.ipxe");
            assertEquals(404, response.statusCode());
            assertEquals("no boot profile for machine 52:54:00:12:34:56: it is not in branchboot.boot.machines and "
                    + "branchboot.boot.default-profile is not set",
                    new ObjectMapper().readTree(response.body()).path("detail").asString());
            assertEquals(200, branch.get("/boot/kiosk.ipxe").statusCode(), "profiles themselves still boot");
        }
    }
}
