package dev.branchboot.server.http;

/**
 * One satisfiable range of a file, with inclusive bounds already clamped to the file's length.
 *
 * @param first offset of the first byte
 * @param last  offset of the last byte, {@code >= first}
 */
public record ByteRange(long first, long last) {

    /** Checks the bounds. */
    public ByteRange {
        if (first < 0 || last < first) {
            throw new IllegalArgumentException("invalid byte range " + first + "-" + last);
        }
    }

    /** Number of bytes in the range. */
    public long length() {
        return last - first + 1;
    }

    /** The Content-Range field value for this range of a file of {@code completeLength} bytes. */
    public String contentRange(long completeLength) {
        return "bytes " + first + "-" + last + "/" + completeLength;
    }

    @Override
    public String toString() {
        return first + "-" + last;
    }
}
