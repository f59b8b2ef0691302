package dev.branchboot.server.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.Multipart;
import dev.branchboot.server.testing.RunningServer;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Range and conditional requests against the running server, comparing every body byte with the
 * file: each form of Range in RFC 9110, malformed headers, ranges past the end, multipart bodies,
 * the range-count cap, If-Range, If-Match, If-None-Match, If-Modified-Since and HEAD.
 */
class ImageRangeRequestsTest extends RunningServer {
    private static final String DISK = "/images/disk.raw";
    private static final int SIZE = RunningServer.DISK.length;

    private static String header(HttpResponse<?> response, String name) {
        Optional<String> value = response.headers().firstValue(name);
        return value.orElse(null);
    }

    private static byte[] slice(long first, long last) {
        return Arrays.copyOfRange(RunningServer.DISK, (int) first, (int) last + 1);
    }

    private static String expectedEtag() throws Exception {
        BasicFileAttributes attributes = Files.readAttributes(ROOT.resolve("disk.raw"), BasicFileAttributes.class);
        return dev.branchboot.server.http.EntityTags.ofFile("disk.raw", attributes.lastModifiedTime().toInstant(),
                attributes.size());
    }

    private void assertSinglePart(HttpResponse<byte[]> response, long first, long last) {
        assertEquals(206, response.statusCode());
        assertEquals("bytes " + first + "-" + last + "/" + SIZE, header(response, "Content-Range"));
        assertEquals(Long.toString(last - first + 1), header(response, "Content-Length"));
        assertArrayEquals(slice(first, last), response.body());
    }

    private void assertWholeFile(HttpResponse<byte[]> response) {
        assertEquals(200, response.statusCode());
        assertEquals(null, header(response, "Content-Range"));
        assertArrayEquals(RunningServer.DISK, response.body());
    }

    @Test
    void wholeFileWithValidators() throws Exception {
        HttpResponse<byte[]> response = get(DISK);
        assertWholeFile(response);
        assertEquals(Integer.toString(SIZE), header(response, "Content-Length"));
        assertEquals("bytes", header(response, "Accept-Ranges"));
        assertEquals("application/octet-stream", header(response, "Content-Type"));
        assertEquals(expectedEtag(), header(response, "ETag"));
        assertEquals(null, header(response, "Content-Location"), "not a symlink");
        assertTrue(header(response, "Last-Modified").endsWith(" GMT"));
    }

    @Test
    void headDescribesTheFileWithoutABodyAndIgnoresRange() throws Exception {
        for (String[] headers : List.of(new String[0], new String[] {"Range", "bytes=0-9"})) {
            HttpResponse<byte[]> response = send("HEAD", DISK, headers);
            assertEquals(200, response.statusCode());
            assertEquals(Integer.toString(SIZE), header(response, "Content-Length"));
            assertEquals(expectedEtag(), header(response, "ETag"));
            assertEquals("bytes", header(response, "Accept-Ranges"));
            assertEquals(0, response.body().length);
        }
    }

    @Test
    void singleRanges() {
        assertSinglePart(get(DISK, "Range", "bytes=0-0"), 0, 0);
        assertSinglePart(get(DISK, "Range", "bytes=100-4195"), 100, 4195);
        assertSinglePart(get(DISK, "Range", "bytes=1000000-"), 1000000, SIZE - 1);     // open-ended
        assertSinglePart(get(DISK, "Range", "bytes=-500"), SIZE - 500, SIZE - 1);       // suffix
        assertSinglePart(get(DISK, "Range", "bytes=-5000000"), 0, SIZE - 1);          // suffix longer than the file
        assertSinglePart(get(DISK, "Range", "bytes=1048000-9999999"), 1048000, SIZE - 1); // last past the end
        assertSinglePart(get(DISK, "Range", "bytes=0-9, 5000000-"), 0, 9);            // unsatisfiable one dropped
    }

    @ParameterizedTest
    @ValueSource(strings = {"bytes=1048576-", "bytes=2000000-2000009", "bytes=-0", "bytes=99999999999999999999-"})
    void rangesPastTheEndGive416WithTheLength(String range) {
        HttpResponse<byte[]> response = get(DISK, "Range", range);
        assertEquals(416, response.statusCode());
        assertEquals("bytes */" + SIZE, header(response, "Content-Range"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"bytes=abc", "bytes=5-1", "bytes=", "items=0-5", "bytes 0-5", "bytes=1-2-3", "bytes=0x1-2",
            "bytes=--5", "bytes=0-9,5-1"})
    void malformedRangeHeadersAreIgnored(String range) {
        assertWholeFile(get(DISK, "Range", range));
    }

    @Test
    void multipleRangesAreMultipartInTheClientsOrder() {
        HttpResponse<byte[]> response = get(DISK, "Range", "bytes=5000-5999,0-9,-100");
        assertEquals(206, response.statusCode());
        assertEquals(Long.toString(response.body().length), header(response, "Content-Length"));
        List<Multipart.Part> parts = Multipart.parse(header(response, "Content-Type"), response.body());
        long[][] expected = {{5000, 5999}, {0, 9}, {SIZE - 100, SIZE - 1}};
        assertEquals(expected.length, parts.size());
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i][0], parts.get(i).first());
            assertEquals(expected[i][1], parts.get(i).last());
            assertEquals(SIZE, parts.get(i).complete());
            assertArrayEquals(slice(expected[i][0], expected[i][1]), parts.get(i).data());
        }
    }

    @Test
    void manySmallRangesAreServedExactly() {
        StringBuilder range = new StringBuilder("bytes=");
        for (int i = 0; i < 100; i++) {
            range.append(i == 0 ? "" : ",").append(i * 10_000 + 7).append('-').append(i * 10_000 + 7 + 15);
        }
        HttpResponse<byte[]> response = get(DISK, "Range", range.toString());
        assertEquals(206, response.statusCode());
        List<Multipart.Part> parts = Multipart.parse(header(response, "Content-Type"), response.body());
        assertEquals(100, parts.size());
        for (int i = 0; i < 100; i++) {
            assertArrayEquals(slice(i * 10_000 + 7, i * 10_000 + 22), parts.get(i).data(), "part " + i);
        }
    }

    @Test
    void moreRangesThanTheCapAreRefused() {
        String range = "bytes=" + "0-1,".repeat(101);
        HttpResponse<byte[]> response = get(DISK, "Range", range);
        assertEquals(416, response.statusCode());
        assertEquals("bytes */" + SIZE, header(response, "Content-Range"));
    }

    @Test
    void overlappingRangesAreCoalescedNeverRepeated() {
        assertSinglePart(get(DISK, "Range", "bytes=0-99,50-149,10-20"), 0, 149);
        // The classic amplification attack: the whole file many times over becomes the file once.
        assertSinglePart(get(DISK, "Range", "bytes=" + String.join(",", java.util.Collections.nCopies(100, "0-"))),
                0, SIZE - 1);
        HttpResponse<byte[]> response = get(DISK, "Range", "bytes=900-999,0-99,50-60");
        List<Multipart.Part> parts = Multipart.parse(header(response, "Content-Type"), response.body());
        assertEquals(2, parts.size());
        assertEquals(0, parts.get(0).first());
        assertArrayEquals(slice(900, 999), parts.get(1).data());
    }

    @Test
    void emptyFile() {
        HttpResponse<byte[]> whole = get("/images/empty.raw");
        assertEquals(200, whole.statusCode());
        assertEquals("0", header(whole, "Content-Length"));
        HttpResponse<byte[]> ranged = get("/images/empty.raw", "Range", "bytes=0-");
        assertEquals(416, ranged.statusCode());
        assertEquals("bytes */0", header(ranged, "Content-Range"));
    }

    @Test
    void ifRangeWithTheCurrentValidatorGetsTheRangeAndAStaleOneTheWholeFile() throws Exception {
        String etag = expectedEtag();
        String lastModified = header(get(DISK, "Range", "bytes=0-0"), "Last-Modified");
        assertSinglePart(get(DISK, "Range", "bytes=10-19", "If-Range", etag), 10, 19);
        assertSinglePart(get(DISK, "Range", "bytes=10-19", "If-Range", lastModified), 10, 19);
        assertWholeFile(get(DISK, "Range", "bytes=10-19", "If-Range", "\"5f000000-100000\""));
        assertWholeFile(get(DISK, "Range", "bytes=10-19", "If-Range", "W/" + etag));      // weak never matches
        assertWholeFile(get(DISK, "Range", "bytes=10-19", "If-Range", "Thu, 01 Jan 2015 00:00:00 GMT"));
        assertWholeFile(get(DISK, "Range", "bytes=10-19", "If-Range", "not a date"));
    }

    @Test
    void ifMatchPinsTheRevision() throws Exception {
        HttpResponse<byte[]> stale = get(DISK, "Range", "bytes=0-9", "If-Match", "\"5f000000-100000\"");
        assertEquals(412, stale.statusCode());
        assertEquals(0, stale.body().length);
        assertSinglePart(get(DISK, "Range", "bytes=0-9", "If-Match", "\"other\", " + expectedEtag()), 0, 9);
        assertSinglePart(get(DISK, "Range", "bytes=0-9", "If-Match", "*"), 0, 9);
        assertEquals(412, get(DISK, "If-Match", "W/" + expectedEtag()).statusCode(), "If-Match compares strongly");
        assertEquals(412, get(DISK, "If-Unmodified-Since", "Thu, 01 Jan 2015 00:00:00 GMT").statusCode());
    }

    @Test
    void ifNoneMatchAndIfModifiedSinceGive304() throws Exception {
        HttpResponse<byte[]> notModified = get(DISK, "If-None-Match", "W/" + expectedEtag(), "Range", "bytes=0-9");
        assertEquals(304, notModified.statusCode());
        assertEquals(expectedEtag(), header(notModified, "ETag"));
        assertEquals(0, notModified.body().length);
        assertEquals(304, send("HEAD", DISK, "If-None-Match", "*").statusCode());
        assertWholeFile(get(DISK, "If-None-Match", "\"5f000000-100000\""));
        String lastModified = header(get(DISK, "Range", "bytes=0-0"), "Last-Modified");
        assertEquals(304, get(DISK, "If-Modified-Since", lastModified).statusCode());
        assertWholeFile(get(DISK, "If-Modified-Since", DateTimeFormatter.RFC_1123_DATE_TIME
                .format(java.time.Instant.EPOCH.atZone(ZoneOffset.UTC))));
        // If-None-Match takes precedence over If-Modified-Since (RFC 9110 section 13.2.2).
        assertWholeFile(get(DISK, "If-None-Match", "\"other\"", "If-Modified-Since", lastModified));
        // The obsolete forms recipients must accept too: RFC 850 and asctime.
        java.time.ZonedDateTime modified = java.time.ZonedDateTime.parse(lastModified, DateTimeFormatter.RFC_1123_DATE_TIME);
        String rfc850 = DateTimeFormatter.ofPattern("EEEE, dd-MMM-yy HH:mm:ss 'GMT'", java.util.Locale.US).format(modified);
        String asctime = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", java.util.Locale.US).format(modified);
        assertEquals(304, get(DISK, "If-Modified-Since", rfc850).statusCode(), rfc850);
        assertEquals(304, get(DISK, "If-Modified-Since", asctime).statusCode(), asctime);
        assertEquals(412, get(DISK, "If-Unmodified-Since", "Thursday, 01-Jan-15 00:00:00 GMT").statusCode());
        assertEquals(412, get(DISK, "If-Unmodified-Since", "Thu Jan  1 00:00:00 2015").statusCode());
    }

    @Test
    void nestedNamesMissingNamesAndOtherMethods() {
        HttpResponse<byte[]> nested = get("/images/sub/dir/nested.raw");
        assertEquals(200, nested.statusCode());
        assertEquals("nested image bytes", new String(nested.body()));
        assertEquals(404, get("/images/missing.raw").statusCode());
        assertEquals(404, get("/images/sub/dir").statusCode(), "directories are not images");
        assertEquals(404, get("/images/.hidden.raw").statusCode());
        assertEquals(404, get("/images/upload.qcow2.part").statusCode());
        HttpResponse<byte[]> post = send("POST", DISK);
        assertEquals(405, post.statusCode());
        assertEquals("GET, HEAD", post.headers().firstValue("Allow").orElse(null));
        assertFalse(new String(post.body()).contains("\u0000"));
    }
}
