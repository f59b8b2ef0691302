package dev.branchboot.agent.http;

/**
 * Parses the {@code Content-Range} of a single-range {@code 206}: {@code bytes FIRST-LAST/LENGTH}
 * or {@code bytes FIRST-LAST/*} (RFC 9110, 14.4), by hand rather than with a regular expression,
 * as it runs for every range request.
 */
final class ContentRange {
    /** The length field of {@code bytes a-b/*}. */
    static final long UNKNOWN_LENGTH = -1;

    private ContentRange() {
    }

    /**
     * {@code {first, last, length}} (length {@link #UNKNOWN_LENGTH} for {@code *}), or {@code null}
     * when {@code value} (surrounding white space aside) is not of that form or a number overflows.
     */
    static long[] parse(String value) {
        String v = value.trim();
        if (!v.startsWith("bytes ")) {
            return null;
        }
        int dash = v.indexOf('-', 6);
        int slash = dash < 0 ? -1 : v.indexOf('/', dash + 1);
        if (slash < 0) {
            return null;
        }
        long first = digits(v, 6, dash);
        long last = digits(v, dash + 1, slash);
        long length = v.length() == slash + 2 && v.charAt(slash + 1) == '*' ? UNKNOWN_LENGTH : digits(v, slash + 1, v.length());
        if (first < 0 || last < 0 || (length < 0 && length != UNKNOWN_LENGTH)) {
            return null;
        }
        return new long[] {first, last, length};
    }

    /** The decimal number {@code s[from, to)}, or -2 when it is empty, not all digits, or too large. */
    private static long digits(String s, int from, int to) {
        if (from >= to || to - from > 18) {
            return -2;
        }
        long n = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -2;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }
}
