package dev.branchboot.agent.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The agent reading from a real branchboot origin server (the packaged jar): every conformance
 * image read through the NBD export by {@code nbdcopy} equals {@code qemu-img convert -O raw}, and
 * an image republished under the same name while an agent has it open keeps that agent on the
 * revision it opened (the server's Content-Location), while a new agent gets the new one.
 */
class OriginServerIT {
    static OriginServer server;
    static String base;

    @TempDir
    Path dir;

    @BeforeAll
    static void startServer(@TempDir Path serverDir) throws Exception {
        ConformanceImages.all();
        server = OriginServer.start(ConformanceImages.directory(), serverDir);
        base = server.images();
    }

    @AfterAll
    static void stopServer() throws InterruptedException {
        if (server != null) {
            server.close();
        }
    }

    static List<TestImage> images() throws IOException {
        return ConformanceImages.regular();
    }

    private AgentProcess serve(String imageName, String... extra) throws IOException {
        List<String> args = new java.util.ArrayList<>(List.of("--server", base, "--image", imageName,
                "--listen", "unix:" + dir.resolve("nbd-" + System.nanoTime() + ".sock"), "--cow", "none", "--retry-deadline", "20s"));
        args.addAll(List.of(extra));
        return AgentProcess.start(dir, HttpExportIT.QUICK_JVM, args.toArray(String[]::new));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void nbdcopyThroughTheOriginServerReadsExactlyTheReferenceBytes(TestImage image) throws Exception {
        String name = ConformanceImages.directory().relativize(image.image()).toString();
        try (AgentProcess agent = serve(name)) {
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy), "nbdcopy differs at this offset");
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    @Test
    void aRepublishedImageKeepsAnOpenAgentOnItsRevision() throws Exception {
        // The set's images live in one folder; publish two revisions of "disk.qcow2" in a sub-folder of it.
        Path folder = Files.createDirectories(ConformanceImages.directory().resolve("republish-" + ProcessHandle.current().pid()));
        try {
            TestImage first = ConformanceImages.named("zlib-64k");
            TestImage second = ConformanceImages.named("zstd-64k");
            Files.copy(first.image(), folder.resolve("disk@1.qcow2"));
            Files.copy(second.image(), folder.resolve("disk@2.qcow2"));
            Files.createSymbolicLink(folder.resolve("disk.qcow2"), Path.of("disk@1.qcow2"));
            String name = folder.getFileName() + "/disk.qcow2";
            try (AgentProcess old = serve(name)) {
                // The admin repoints the name atomically while the first agent has it open.
                Path link = folder.resolve(".disk.qcow2.new");
                Files.createSymbolicLink(link, Path.of("disk@2.qcow2"));
                Files.move(link, folder.resolve("disk.qcow2"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                Path oldCopy = dir.resolve("old.raw");
                Tools.run(dir, "nbdcopy", old.uri(""), oldCopy.toString());
                assertEquals(-1, ByteComparison.firstDifference(first.reference(), oldCopy), "the open agent left its revision");
                try (AgentProcess fresh = serve(name)) {
                    Path newCopy = dir.resolve("new.raw");
                    Tools.run(dir, "nbdcopy", fresh.uri(""), newCopy.toString());
                    assertEquals(-1, ByteComparison.firstDifference(second.reference(), newCopy), "a new agent gets the new revision");
                    assertEquals(0, fresh.terminate(), fresh.log());
                }
                assertEquals(0, old.terminate(), old.log());
            }
        } finally {
            try (var files = Files.list(folder)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(folder);
        }
    }
}
