package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The event-loop path for cached ranges ({@link CachedRangeFastPath}) only saves work: two warm
 * branches in front of one nginx, one with it and one without ({@code event-loop-hits=false}),
 * answer every request form with the same status, headers (but the date) and bytes; the path is
 * really taken for plain cached ranges; and answers keep their order when a client pipelines
 * requests that it takes between requests that go to WebFlux (a miss, a 404).
 */
class CachedRangeFastPathTest {
    private static final int SIZE = 5 * 1024 * 1024 + 3_333;
    private static byte[] disk;
    private static Nginx nginx;
    private static BranchServer fast;
    private static BranchServer webflux;

    @BeforeAll
    static void start(@TempDir Path temp) throws Exception {
        disk = new byte[SIZE];
        new Random(61).nextBytes(disk);
        Path origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), disk);
        Files.write(origin.resolve("cold.raw"), disk);
        nginx = Nginx.start(temp.resolve("nginx"), origin);
        fast = BranchServer.start(nginx.imagesUrl(), temp.resolve("fast"), "--branchboot.cache.revalidate-interval=1h");
        webflux = BranchServer.start(nginx.imagesUrl(), temp.resolve("webflux"), "--branchboot.cache.revalidate-interval=1h",
                "--branchboot.cache.event-loop-hits=false");
        for (BranchServer branch : List.of(fast, webflux)) {
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            branch.awaitCached(SIZE);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        fast.close();
        webflux.close();
        nginx.close();
    }

    private static double answeredOnTheLoop() {
        return fast.bean(MeterRegistry.class).get("branchboot.cache.event.loop.answers").counter().count();
    }

    /** {@code text} with a multipart response's random boundary replaced by a fixed one. */
    private static String withoutBoundary(String text, HttpResponse<byte[]> response) {
        String type = response.headers().firstValue("Content-Type").orElse("");
        int at = type.indexOf("boundary=");
        return at < 0 ? text : text.replace(type.substring(at + "boundary=".length()), "BOUNDARY");
    }

    private static Map<String, List<String>> headersButDate(HttpResponse<byte[]> response) {
        Map<String, List<String>> headers = new TreeMap<>(response.headers().map());
        headers.remove("date");
        if (response.headers().firstValue("Content-Type").orElse("").startsWith("multipart/")) {
            headers.remove("content-length"); // the random boundary's length varies; multipart goes through WebFlux anyway
        }
        return headers;
    }

    @Test
    void everyRequestFormGetsTheSameAnswerWithAndWithoutTheEventLoopPath() {
        String etag = fast.get("/images/disk.raw", "Range", "bytes=0-0").headers().firstValue("ETag").orElseThrow();
        String modified = fast.get("/images/disk.raw", "Range", "bytes=0-0").headers().firstValue("Last-Modified").orElseThrow();
        List<String[]> requests = new ArrayList<>();
        for (String range : List.of("bytes=0-0", "bytes=100-300000", "bytes=-70000", "bytes=4000000-", "bytes=5000000-6000000",
                "bytes=0-2097151", "bytes=0-2097152", "bytes=10-20,300000-400000", "bytes=99999999-", "bytes=5-1",
                "items=0-5", "bytes=1000-1000, 1001-2000")) {
            requests.add(new String[] {"GET", "/images/disk.raw", "Range", range});
            requests.add(new String[] {"GET", "/images/disk.raw", "Range", range, "If-Match", etag});
        }
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-Match", "\"0-1\""});
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-Match", "*"});
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-None-Match", etag});
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-Range", etag});
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-Range", "\"other\""});
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-Modified-Since", modified});
        requests.add(new String[] {"GET", "/images/disk.raw", "Range", "bytes=1-99", "If-Unmodified-Since",
                "Tue, 01 Jan 2019 00:00:00 GMT"});
        requests.add(new String[] {"HEAD", "/images/disk.raw"});
        requests.add(new String[] {"HEAD", "/images/disk.raw", "Range", "bytes=1-99"});
        requests.add(new String[] {"GET", "/images/disk.raw"});
        requests.add(new String[] {"GET", "/images/.hidden", "Range", "bytes=1-99"});
        requests.add(new String[] {"GET", "/images/sub/../disk.raw", "Range", "bytes=1-99"});
        requests.add(new String[] {"GET", "/images/missing.raw", "Range", "bytes=1-99"});
        double before = answeredOnTheLoop();
        for (String[] request : requests) {
            String[] headers = Arrays.copyOfRange(request, 2, request.length);
            HttpResponse<byte[]> ours = fast.send(request[0], request[1], headers);
            HttpResponse<byte[]> theirs = webflux.send(request[0], request[1], headers);
            String what = String.join(" ", request);
            assertEquals(theirs.statusCode(), ours.statusCode(), what);
            assertEquals(withoutBoundary(headersButDate(theirs).toString(), theirs),
                    withoutBoundary(headersButDate(ours).toString(), ours), what);
            assertEquals(withoutBoundary(new String(theirs.body(), StandardCharsets.ISO_8859_1), theirs),
                    withoutBoundary(new String(ours.body(), StandardCharsets.ISO_8859_1), ours), what);
            assertTrue(ours.headers().firstValue("Date").isPresent(), what);
        }
        // Single ranges up to 2 MiB, HEADs and If-Match of the current revision are answered on the loop.
        assertTrue(answeredOnTheLoop() - before >= 14, "answered on the event loop: " + (answeredOnTheLoop() - before));
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrderAcrossBothPaths() throws Exception {
        Random random = new Random(62);
        StringBuilder requests = new StringBuilder();
        List<int[]> expected = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            int kind = i % 3;
            int first = random.nextInt(SIZE - 100_000);
            int last = first + random.nextInt(90_000);
            // cached, cold (a miss, answered by WebFlux after a fetch), or a name that does not exist
            String name = kind == 0 ? "disk.raw" : kind == 1 ? "cold.raw" : "none.raw";
            requests.append("GET /images/").append(name).append(" HTTP/1.1\r\nHost: branch\r\nRange: bytes=")
                    .append(first).append('-').append(last).append("\r\n\r\n");
            expected.add(new int[] {kind, first, last});
        }
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), fast.port())) {
            socket.setSoTimeout(20_000);
            OutputStream out = socket.getOutputStream();
            out.write(requests.toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            for (int[] e : expected) {
                String head = readHead(in);
                int status = Integer.parseInt(head.substring(9, 12));
                int length = Integer.parseInt(header(head, "content-length"));
                byte[] body = in.readNBytes(length);
                if (e[0] == 2) {
                    assertEquals(404, status, head);
                } else {
                    assertEquals(206, status, head);
                    assertEquals("bytes " + e[1] + "-" + e[2] + "/" + SIZE, header(head, "content-range"));
                    assertArrayEquals(Arrays.copyOfRange(disk, e[1], e[2] + 1), body);
                }
            }
        }
    }

    @Test
    void theHeaderLinesAreSpelledAsWebFluxSpellsThem() throws Exception {
        for (String request : List.of("GET /images/disk.raw HTTP/1.1\r\nHost: b\r\nRange: bytes=5-55\r\n\r\n",
                "HEAD /images/disk.raw HTTP/1.1\r\nHost: b\r\n\r\n")) {
            assertEquals(headerLines(webflux, request), headerLines(fast, request), request);
        }
    }

    /** The response's status and header lines, as sent, sorted, without the date. */
    private static List<String> headerLines(BranchServer branch, String request) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), branch.port())) {
            socket.setSoTimeout(5_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            List<String> lines = new ArrayList<>(List.of(readHead(socket.getInputStream()).strip().split("\r\n")));
            lines.removeIf(line -> line.startsWith("Date:"));
            java.util.Collections.sort(lines);
            return lines;
        }
    }

    @Test
    void aKeptAliveConnectionIsReadAgainAfterEveryAnswerOnTheLoop() throws Exception {
        double before = answeredOnTheLoop();
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), fast.port())) {
            socket.setSoTimeout(5_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            for (int i = 0; i < 5; i++) {
                // One request at a time, after a pause: the next one arrives in a read of its own.
                Thread.sleep(100);
                out.write(("GET /images/disk.raw HTTP/1.1\r\nHost: branch\r\nRange: bytes=" + i * 1000 + "-" + (i * 1000 + 99)
                        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String head = readHead(in);
                assertEquals(206, Integer.parseInt(head.substring(9, 12)), head);
                assertArrayEquals(Arrays.copyOfRange(disk, i * 1000, i * 1000 + 100), in.readNBytes(100));
            }
        }
        assertEquals(5, answeredOnTheLoop() - before);
    }

    private static String header(String head, String name) {
        for (String line : head.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).equalsIgnoreCase(name)) {
                return line.substring(colon + 1).strip();
            }
        }
        throw new AssertionError("no " + name + " in " + head);
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed after " + head);
            }
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.US_ASCII);
    }
}
