package dev.branchboot.agent.http;

import dev.branchboot.agent.text.PeerText;

/**
 * The value of a Content-Length header, held to RFC 9110 §8.6: 1*DIGIT. Anything else ({@code +5},
 * {@code -1}, {@code 0x10}, {@code 1 2}, an empty value, a number too large for a file) means the
 * server cannot be trusted to frame its messages: the agent would misread where the body ends and
 * take the next answer's bytes for this one's. The same header sent twice with one value is that
 * value (RFC 9112 §6.3 lets a recipient accept it); with two different values it is refused.
 */
final class ContentLength {
    /** What {@link #parse} returns when there is no Content-Length. */
    static final long ABSENT = -1;
    /** 10^18 bytes and more is no file; longer numbers would overflow a long. */
    private static final int MAX_DIGITS = 18;

    private ContentLength() {
    }

    /**
     * The length in {@code value}, a header value or, for a header sent more than once, the values
     * joined by ", "; {@link #ABSENT} for {@code null}.
     *
     * @throws MalformedResponseException naming the value when it is not one number of digits
     */
    static long parse(String value) throws MalformedResponseException {
        if (value == null) {
            return ABSENT;
        }
        long length = ABSENT;
        for (String part : value.split(",", -1)) {
            long one = digits(Http11Client.trimWhitespace(part));
            if (one < 0) {
                throw new MalformedResponseException("malformed Content-Length '" + PeerText.escape(value) + "'");
            }
            if (length != ABSENT && one != length) {
                throw new MalformedResponseException("two different Content-Lengths '" + PeerText.escape(value) + "'");
            }
            length = one;
        }
        return length;
    }

    private static long digits(String s) {
        if (s.isEmpty() || s.length() > MAX_DIGITS) {
            return -1;
        }
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }
}
