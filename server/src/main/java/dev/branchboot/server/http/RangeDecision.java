package dev.branchboot.server.http;

import java.util.List;

/** What to do with a request's Range header field, as decided by {@link ByteRanges#evaluate}. */
public sealed interface RangeDecision {

    /**
     * Serve the whole file with 200: the header is malformed or names a unit other than bytes, and
     * RFC 9110 (section 14.2) says to ignore it then.
     *
     * @param reason why the header was ignored, for the debug log
     */
    record Ignore(String reason) implements RangeDecision {
    }

    /**
     * Answer 416 with {@code Content-Range: bytes *}{@code /length}: no range is satisfiable, or the
     * request asks for more ranges than the server accepts.
     *
     * @param reason why, for the log and the response body
     */
    record NotSatisfiable(String reason) implements RangeDecision {
    }

    /**
     * Answer 206 with these ranges, in the order to send them; one range is a single-part response,
     * several are multipart/byteranges.
     *
     * @param ranges the satisfiable ranges, clamped to the file, overlapping ones coalesced
     */
    record Partial(List<ByteRange> ranges) implements RangeDecision {
        /** Copies the list. */
        public Partial {
            ranges = List.copyOf(ranges);
            if (ranges.isEmpty()) {
                throw new IllegalArgumentException("a partial response needs at least one range");
            }
        }
    }
}
