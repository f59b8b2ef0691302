package dev.branchboot.agent.http;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The buffered input of one HTTP connection: response head lines scanned in the buffer (not a
 * synchronized call per byte, as through {@code BufferedInputStream}), bodies copied out of it and,
 * for large reads, read straight from the socket. Used by one request at a time.
 */
final class ResponseInput {
    private final InputStream raw;
    private final byte[] buf;
    private int pos;
    private int limit;

    ResponseInput(InputStream raw, int size) {
        this.raw = raw;
        this.buf = new byte[size];
    }

    /** What {@link #readHeaderLine} returns for a header line it skipped. */
    static final String SKIPPED = new String("(skipped header)");

    /**
     * The next header line, as {@link #readLine}, or {@link #SKIPPED} (the same instance) when the
     * line lies in the buffer and its name is none of {@code names} (lower case): a response's other
     * headers (Date, Server, Content-Type, ...) are passed over without making strings of them. A
     * line that starts with a space or tab is never skipped.
     */
    String readHeaderLine(int maxLength, String[] names) throws IOException {
        if (pos == limit && !fill()) {
            throw new EOFException("connection closed mid-header");
        }
        for (int i = pos; i < limit; i++) {
            if (buf[i] == '\n') {
                int colon = pos;
                while (colon < i && buf[colon] != ':') {
                    colon++;
                }
                // A line that starts with white space continues the one before (obsolete line
                // folding): returned, so that the caller refuses it rather than lose a value's end.
                boolean folded = buf[pos] == ' ' || buf[pos] == '\t';
                if (colon < i && !folded && !isOneOf(pos, colon, names)) {
                    pos = i + 1;
                    return SKIPPED;
                }
                break;
            }
        }
        return readLine(maxLength);
    }

    private boolean isOneOf(int start, int end, String[] names) {
        for (String name : names) {
            if (name.length() == end - start) {
                int k = 0;
                while (k < name.length() && Character.toLowerCase((char) (buf[start + k] & 0xFF)) == name.charAt(k)) {
                    k++;
                }
                if (k == name.length()) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The next line without its line end (LF, or CRLF), as ISO-8859-1.
     *
     * @throws EOFException when the stream ends first
     * @throws IOException  when the line is longer than {@code maxLength}
     */
    String readLine(int maxLength) throws IOException {
        StringBuilder spill = null; // only for a line that crosses a buffer refill
        while (true) {
            for (int i = pos; i < limit; i++) {
                if (buf[i] == '\n') {
                    int start = pos;
                    pos = i + 1;
                    if (spill == null) {
                        int end = i > start && buf[i - 1] == '\r' ? i - 1 : i;
                        return new String(buf, start, end - start, StandardCharsets.ISO_8859_1);
                    }
                    String line = spill.append(new String(buf, start, i - start, StandardCharsets.ISO_8859_1)).toString();
                    return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
                }
            }
            int pending = limit - pos;
            if ((spill == null ? 0 : spill.length()) + pending > maxLength) {
                throw new IOException("header line longer than " + maxLength + " bytes");
            }
            if (pending > 0) {
                if (spill == null) {
                    spill = new StringBuilder(pending + 64);
                }
                spill.append(new String(buf, pos, pending, StandardCharsets.ISO_8859_1));
            }
            if (!fill()) {
                boolean none = spill == null || spill.length() == 0;
                throw new EOFException(none ? "connection closed before a response" : "connection closed mid-header");
            }
        }
    }

    /** Reads up to {@code len} bytes into {@code b}; -1 at the end of the stream. */
    int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        if (pos < limit) {
            int n = Math.min(len, limit - pos);
            System.arraycopy(buf, pos, b, off, n);
            pos += n;
            return n;
        }
        if (len >= buf.length) {
            return raw.read(b, off, len);
        }
        if (!fill()) {
            return -1;
        }
        return read(b, off, len);
    }

    private boolean fill() throws IOException {
        pos = 0;
        limit = 0;
        int n = raw.read(buf, 0, buf.length);
        if (n < 0) {
            return false;
        }
        limit = n;
        return true;
    }
}
