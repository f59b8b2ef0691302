package dev.branchboot.server.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
 * A real nginx serves the same directory: both origins must give the same ETag, Last-Modified and
 * Content-Length for the same file (plain and through a symlink), and the same bytes for the same
 * single and multiple ranges, so a client or cache cannot tell which origin it talks to.
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
            for (String header : List.of("ETag", "Last-Modified", "Content-Length")) {
                assertEquals(theirs.headers().firstValue(header), ours.headers().firstValue(header), path + " " + header);
            }
            assertArrayEquals(theirs.body(), ours.body(), path);
        }
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
