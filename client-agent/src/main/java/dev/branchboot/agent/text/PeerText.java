package dev.branchboot.agent.text;

/**
 * Text a peer sent (an HTTP server's status line, header values or body, an NBD client's export
 * name), made safe to put in a log line or an exception message: such text can hold NUL, escape
 * sequences that drive a terminal, line breaks that forge log lines, or bytes that are not text.
 * Every character outside printable ASCII is written as {@code \xNN} (up to U+00FF, which is what
 * a byte read as ISO-8859-1 becomes) or <code>&#92;u{N...}</code>; the result is printable ASCII, in which
 * escaping again finds nothing to escape.
 */
public final class PeerText {
    /** How much of a peer's text a message shows by default: enough to recognise it. */
    public static final int SHOWN = 200;

    private PeerText() {
    }

    /** {@code text} escaped, at most {@link #SHOWN} characters of it; "null" for null. */
    public static String escape(String text) {
        return escape(text, SHOWN);
    }

    /**
     * {@code text} escaped; when it is longer than {@code max} characters, its first {@code max}
     * followed by "..." and how long it was. "null" for null.
     */
    public static String escape(String text, int max) {
        if (text == null) {
            return "null";
        }
        int shown = Math.min(text.length(), max);
        StringBuilder out = null;
        for (int i = 0; i < shown; ) {
            int cp = text.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (cp < 0x20 || cp > 0x7E) {
                if (out == null) {
                    out = new StringBuilder(shown + 16).append(text, 0, i);
                }
                if (cp <= 0xFF) {
                    out.append("\\x").append(Character.forDigit(cp >> 4, 16)).append(Character.forDigit(cp & 0xF, 16));
                } else {
                    out.append("\\u{").append(Integer.toHexString(cp)).append('}');
                }
            } else if (out != null) {
                out.append((char) cp);
            }
            i = next;
        }
        String escaped = out == null ? text.substring(0, shown) : out.toString();
        return shown < text.length() ? escaped + "... (" + text.length() + " characters)" : escaped;
    }
}
