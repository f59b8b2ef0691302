package dev.branchboot.server.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.branchboot.server.testing.RunningServer;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.Test;

/**
 * The revision scheme: a plain name is a symlink to a revision file, repointed atomically to
 * publish a new one. Responses name the revision in Content-Location; a client that pinned the
 * old ETag gets 412 on the plain name and keeps reading the old revision by its own name.
 */
class ImageRevisionsTest extends RunningServer {

    @Test
    void repointingTheSymlinkPublishesANewRevisionWhilePinnedClientsKeepTheOld() throws Exception {
        Path dir = Files.createDirectories(ROOT.resolve("rev"));
        byte[] first = "revision one".getBytes();
        byte[] second = "revision two, longer".getBytes();
        Files.write(dir.resolve("os@2026-11-23.raw"), first);
        Files.write(dir.resolve("os@2026-11-24.raw"), second);
        Files.createSymbolicLink(dir.resolve("os.raw"), Path.of("os@2026-11-23.raw"));

        HttpResponse<byte[]> before = get("/images/rev/os.raw");
        assertEquals(200, before.statusCode());
        assertArrayEquals(first, before.body());
        assertEquals("/images/rev/os@2026-11-23.raw", before.headers().firstValue("Content-Location").orElseThrow());
        String pinnedEtag = before.headers().firstValue("ETag").orElseThrow();

        // Publish: make the new link under a temporary dot-name and rename it over the old one.
        Path staging = dir.resolve(".os.raw.new");
        Files.createSymbolicLink(staging, Path.of("os@2026-11-24.raw"));
        Files.move(staging, dir.resolve("os.raw"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

        HttpResponse<byte[]> after = get("/images/rev/os.raw");
        assertArrayEquals(second, after.body());
        assertEquals("/images/rev/os@2026-11-24.raw", after.headers().firstValue("Content-Location").orElseThrow());
        assertNotEquals(pinnedEtag, after.headers().firstValue("ETag").orElseThrow());

        assertEquals(412, get("/images/rev/os.raw", "If-Match", pinnedEtag, "Range", "bytes=0-3").statusCode());
        HttpResponse<byte[]> pinned = get(before.headers().firstValue("Content-Location").orElseThrow(),
                "If-Match", pinnedEtag, "Range", "bytes=0-7");
        assertEquals(206, pinned.statusCode());
        assertArrayEquals("revision".getBytes(), pinned.body());
        assertEquals(pinnedEtag, pinned.headers().firstValue("ETag").orElseThrow());
    }

    @Test
    void filesBeingWrittenAreNotServedEvenThroughASymlink() throws Exception {
        Path dir = Files.createDirectories(ROOT.resolve("upload"));
        Files.writeString(dir.resolve("os@3.raw.part"), "half");
        Files.writeString(dir.resolve(".os@4.raw"), "half");
        Files.createSymbolicLink(dir.resolve("os.raw"), Path.of("os@3.raw.part"));
        Files.createSymbolicLink(dir.resolve("os2.raw"), Path.of(".os@4.raw"));
        assertEquals(404, get("/images/upload/os@3.raw.part").statusCode());
        assertEquals(404, get("/images/upload/os.raw").statusCode());
        assertEquals(404, get("/images/upload/os2.raw").statusCode());
        assertEquals(404, get("/images/upload/.os@4.raw").statusCode());
    }

    @Test
    void aSymlinkedNameCarriesTheRevisionsEtagAndLocationOnEveryAnswer() throws Exception {
        HttpResponse<byte[]> head = send("HEAD", "/images/win11.qcow2");
        assertEquals("/images/win11@1.qcow2", head.headers().firstValue("Content-Location").orElseThrow());
        String etag = head.headers().firstValue("ETag").orElseThrow();
        assertEquals(etag, get("/images/win11@1.qcow2").headers().firstValue("ETag").orElseThrow());
        HttpResponse<byte[]> notModified = get("/images/win11.qcow2", "If-None-Match", etag);
        assertEquals(304, notModified.statusCode());
        assertEquals("/images/win11@1.qcow2", notModified.headers().firstValue("Content-Location").orElseThrow());
    }
}
