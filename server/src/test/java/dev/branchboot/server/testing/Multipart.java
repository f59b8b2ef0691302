package dev.branchboot.server.testing;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of multipart/byteranges bodies for tests: each part's length is taken from its
 * Content-Range, and every delimiter must sit exactly where the lengths say.
 */
public final class Multipart {
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+)");

    /** One part: its range and bytes. */
    public record Part(long first, long last, long complete, byte[] data) {
    }

    private Multipart() {
    }

    /** Parses {@code body} sent with {@code contentType}; fails with an AssertionError on any deviation. */
    public static List<Part> parse(String contentType, byte[] body) {
        Matcher boundaryMatch = Pattern.compile("boundary=\"?([^\";]+)\"?").matcher(contentType);
        if (!contentType.toLowerCase(Locale.ROOT).startsWith("multipart/byteranges") || !boundaryMatch.find()) {
            throw new AssertionError("not multipart/byteranges with a boundary: " + contentType);
        }
        String text = new String(body, StandardCharsets.ISO_8859_1);
        String delimiter = "--" + boundaryMatch.group(1);
        List<Part> parts = new ArrayList<>();
        int at = text.indexOf(delimiter);
        if (at < 0 || !text.substring(0, at).isBlank()) {
            throw new AssertionError("body does not start with the boundary");
        }
        while (true) {
            at += delimiter.length();
            if (text.startsWith("--", at)) {
                if (!text.substring(at + 2).equals("\r\n") && !text.substring(at + 2).isEmpty()) {
                    throw new AssertionError("bytes after the closing delimiter");
                }
                return parts;
            }
            int headersEnd = text.indexOf("\r\n\r\n", at);
            if (!text.startsWith("\r\n", at) || headersEnd < 0) {
                throw new AssertionError("malformed part header at " + at);
            }
            String headers = text.substring(at + 2, headersEnd);
            Matcher range = CONTENT_RANGE.matcher(headers);
            if (!range.find()) {
                throw new AssertionError("part without Content-Range: " + headers);
            }
            long first = Long.parseLong(range.group(1));
            long last = Long.parseLong(range.group(2));
            int dataStart = headersEnd + 4;
            int dataEnd = Math.toIntExact(dataStart + last - first + 1);
            parts.add(new Part(first, last, Long.parseLong(range.group(3)), Arrays.copyOfRange(body, dataStart, dataEnd)));
            if (!text.startsWith("\r\n" + delimiter, dataEnd)) {
                throw new AssertionError("part data not followed by CRLF and the delimiter at " + dataEnd);
            }
            at = dataEnd + 2;
        }
    }
}
