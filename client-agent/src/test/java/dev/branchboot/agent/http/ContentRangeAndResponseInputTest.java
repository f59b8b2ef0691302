package dev.branchboot.agent.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ContentRangeAndResponseInputTest {

    @Test
    void parsesContentRangeAndRefusesAnythingElse() {
        assertArrayEquals(new long[] {0, 99, 1000}, ContentRange.parse("bytes 0-99/1000"));
        assertArrayEquals(new long[] {5, 5, ContentRange.UNKNOWN_LENGTH}, ContentRange.parse("  bytes 5-5/*  "));
        for (String bad : new String[] {"", "bytes", "bytes 1-2", "bytes -2/3", "bytes 1-/3", "bytes 1-2/", "items 1-2/3",
                "bytes 1-2/3x", "bytes 1-2/**", "bytes +1-2/3", "bytes 1-2/99999999999999999999", "bytes 1 -2/3"}) {
            assertNull(ContentRange.parse(bad), bad);
        }
    }

    /** Hands out at most {@code step} bytes per read, as a socket may. */
    private static InputStream trickle(String text, int step) {
        ByteArrayInputStream all = new ByteArrayInputStream(text.getBytes(StandardCharsets.ISO_8859_1));
        return new InputStream() {
            @Override
            public int read() {
                return all.read();
            }

            @Override
            public int read(byte[] b, int off, int len) {
                return all.read(b, off, Math.min(len, step));
            }
        };
    }

    @Test
    void readsLinesAcrossRefillsAndThenTheBody() throws IOException {
        for (int step = 1; step <= 9; step++) {
            ResponseInput in = new ResponseInput(trickle("HTTP/1.1 206 X\r\nA: b\r\n\nline\r\r\n\r\nBODY!", step), 8);
            assertEquals("HTTP/1.1 206 X", in.readLine(100));
            assertEquals("A: b", in.readLine(100));
            assertEquals("", in.readLine(100), "a bare LF ends a line too");
            assertEquals("line\r", in.readLine(100), "only one CR before the LF is the line end");
            assertEquals("", in.readLine(100));
            byte[] body = new byte[5];
            int got = 0;
            while (got < 5) {
                got += in.read(body, got, 5 - got);
            }
            assertEquals("BODY!", new String(body, StandardCharsets.ISO_8859_1));
            assertEquals(-1, in.read(body, 0, 5));
        }
    }

    @Test
    void headerLinesNotAskedForAreSkippedTheOthersReadWhole() throws IOException {
        String head = "Date: Thu\r\nCONTENT-length: 12\r\nServer: nginx\r\nETag: \"x\"\r\nContent-Lengthy: 1\r\nweird\r\n\r\n";
        String[] names = {"content-length", "etag"};
        for (int step : new int[] {1, 3, 8, 29, 1000}) {
            for (int size : new int[] {8, 64, 4096}) {
                ResponseInput in = new ResponseInput(trickle(head, step), size);
                java.util.List<String> kept = new java.util.ArrayList<>();
                for (String line; !(line = in.readHeaderLine(100, names)).isEmpty(); ) {
                    if (line != ResponseInput.SKIPPED) {
                        kept.add(line);
                    }
                }
                // A line that crosses a refill comes back whole whatever its name: callers still filter.
                assertTrue(kept.containsAll(java.util.List.of("CONTENT-length: 12", "ETag: \"x\"", "weird")),
                        "step " + step + ", buffer " + size + ": " + kept);
                if (size == 4096 && step >= head.length()) {
                    assertEquals(java.util.List.of("CONTENT-length: 12", "ETag: \"x\"", "weird"), kept,
                            "all in the buffer: only the names asked for (any case) and lines without a colon come back");
                }
            }
        }
    }

    @Test
    void refusesOverlongLinesAndReportsEarlyEnds() {
        assertThrows(IOException.class, () -> new ResponseInput(trickle("x".repeat(50) + "\n", 4), 8).readLine(20));
        EOFException before = assertThrows(EOFException.class, () -> new ResponseInput(trickle("", 4), 8).readLine(20));
        assertEquals("connection closed before a response", before.getMessage());
        EOFException mid = assertThrows(EOFException.class, () -> new ResponseInput(trickle("HTTP/1.1", 4), 8).readLine(20));
        assertEquals("connection closed mid-header", mid.getMessage());
    }
}
