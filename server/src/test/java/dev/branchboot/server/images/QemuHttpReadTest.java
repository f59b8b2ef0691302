package dev.branchboot.server.images;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.server.testing.RunningServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * qemu's own http block driver (qemu-block-extra, over libcurl) reads a compressed QCOW2 image
 * through the server, by its symlinked plain name; the disk it sees must be byte for byte what
 * {@code qemu-img convert -O raw} makes from the local file.
 */
class QemuHttpReadTest extends RunningServer {

    @Test
    void qemuImgConvertOverHttpGivesTheLocalBytes() throws IOException {
        ConformanceImages.TestImage image = ConformanceImages.named("large-zlib-256m");
        Path dir = Files.createDirectories(ROOT.resolve("qemu"));
        Path served = dir.resolve("large@1.qcow2");
        Files.deleteIfExists(served);
        try {
            Files.createLink(served, image.image());
        } catch (IOException | UnsupportedOperationException e) {
            Files.copy(image.image(), served);   // another file system: a copy serves as well
        }
        Files.deleteIfExists(dir.resolve("large.qcow2"));
        Files.createSymbolicLink(dir.resolve("large.qcow2"), Path.of("large@1.qcow2"));
        Path out = BASE.resolve("qemu-http-out.raw");
        Files.deleteIfExists(out);
        // -m 1: one request at a time; qemu's http driver can hang with deeper queues.
        ConformanceImages.run(BASE, "qemu-img", "convert", "-m", "1", "-f", "qcow2", "-O", "raw",
                url("/images/qemu/large.qcow2").toString(), out.toString());
        assertEquals(-1, ByteComparison.firstDifference(image.reference(), out),
                "first byte where qemu's read through the server differs from the local conversion");
        Files.delete(out);
    }
}
