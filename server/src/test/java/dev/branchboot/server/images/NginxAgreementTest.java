package dev.branchboot.server.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.Multipart;
import dev.branchboot.server.testing.RunningServer;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A real nginx serves the same directory: both origins must give the same Last-Modified and
 * Content-Length for the same file (plain and through a symlink), an ETag that starts with nginx's,
 * and the same bytes for the same single and multiple ranges. Where nginx gives two files one ETag
 * (one length, one second), ours tells them apart.
 */
class NginxAgreementTest extends RunningServer {
    private static Nginx nginx;
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void startNginx() throws Exception {
        nginx = Nginx.start(BASE.resolve("nginx"), ROOT);
    }

    @AfterAll
    static void stopNginx() throws InterruptedException {
        if (nginx != null) {
            nginx.close();
        }
    }

    private static HttpResponse<byte[]> fromNginx(String path, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(nginx.rootUrl() + path));
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        return CLIENT.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @Test
    void sameValidatorsForTheSameFiles() throws Exception {
        for (String path : List.of("/images/disk.raw", "/images/win11.qcow2", "/images/sub/dir/nested.raw", "/images/empty.raw")) {
            HttpResponse<byte[]> ours = get(path);
            HttpResponse<byte[]> theirs = fromNginx(path);
            assertEquals(200, theirs.statusCode(), path);
            for (String header : List.of("Last-Modified", "Content-Length")) {
                assertEquals(theirs.headers().firstValue(header), ours.headers().firstValue(header), path + " " + header);
            }
            String nginxTag = theirs.headers().firstValue("ETag").orElseThrow();
            String ourTag = ours.headers().firstValue("ETag").orElseThrow();
            assertTrue(ourTag.matches("\"[0-9a-f]+-[0-9a-f]+-[0-9a-f]{12}\"")
                    && ourTag.startsWith(nginxTag.substring(0, nginxTag.length() - 1) + "-"), path + ": " + ourTag + " vs " + nginxTag);
            assertArrayEquals(theirs.body(), ours.body(), path);
        }
    }

    @Test
    void filesOfOneLengthWrittenInOneSecondHaveDistinctTagsWhereNginxGivesThemOne() throws Exception {
        java.nio.file.attribute.FileTime second = java.nio.file.attribute.FileTime.from(
                java.time.Instant.parse("2026-12-01T08:00:00Z"));
        java.util.Set<String> ours = new java.util.HashSet<>();
        java.util.Set<String> theirs = new java.util.HashSet<>();
        try {
            fourFilesInOneSecond(second, ours, theirs);
        } finally {
            // The server is shared with other tests, whose catalogs must not see these files.
            for (String name : List.of("same.raw", "same@0.raw", "same@1.raw", "same@2.raw", "same@3.raw")) {
                java.nio.file.Files.deleteIfExists(ROOT.resolve(name));
            }
        }
    }

    private void fourFilesInOneSecond(java.nio.file.attribute.FileTime second, java.util.Set<String> ours,
            java.util.Set<String> theirs) throws Exception {
        for (int i = 0; i < 4; i++) {
            java.nio.file.Path file = ROOT.resolve("same@" + i + ".raw");
            java.nio.file.Files.write(file, new byte[] {(byte) i, 1, 2, 3});
            java.nio.file.Files.setLastModifiedTime(file, second);
            ours.add(get("/images/same@" + i + ".raw").headers().firstValue("ETag").orElseThrow());
            theirs.add(fromNginx("/images/same@" + i + ".raw").headers().firstValue("ETag").orElseThrow());
        }
        assertEquals(1, theirs.size(), "nginx's formula: " + theirs);
        assertEquals(4, ours.size(), "ours: " + ours);
        // A symlinked name has its revision's tag, not one of its own.
        java.nio.file.Files.createSymbolicLink(ROOT.resolve("same.raw"), java.nio.file.Path.of("same@2.raw"));
        assertEquals(get("/images/same@2.raw").headers().firstValue("ETag"), get("/images/same.raw").headers().firstValue("ETag"));
    }

    @Test
    void sameBytesForTheSameRanges() throws Exception {
        HttpResponse<byte[]> ours = get("/images/disk.raw", "Range", "bytes=-70000");
        HttpResponse<byte[]> theirs = fromNginx("/images/disk.raw", "Range", "bytes=-70000");
        assertEquals(theirs.statusCode(), ours.statusCode());
        assertEquals(theirs.headers().firstValue("Content-Range"), ours.headers().firstValue("Content-Range"));
        assertArrayEquals(theirs.body(), ours.body());

        String ranges = "bytes=10-20,300000-400000,1048000-";
        HttpResponse<byte[]> ourMultipart = get("/images/disk.raw", "Range", ranges);
        List<Multipart.Part> ourParts = Multipart.parse(ourMultipart.headers().firstValue("Content-Type").orElseThrow(),
                ourMultipart.body());
        HttpResponse<byte[]> nginxMultipart = fromNginx("/images/disk.raw", "Range", ranges);
        List<Multipart.Part> theirParts = Multipart.parse(nginxMultipart.headers().firstValue("Content-Type").orElseThrow(),
                nginxMultipart.body());
        assertEquals(theirParts.size(), ourParts.size());
        for (int i = 0; i < ourParts.size(); i++) {
            assertEquals(theirParts.get(i).first(), ourParts.get(i).first());
            assertArrayEquals(theirParts.get(i).data(), ourParts.get(i).data());
        }
    }
}
