package dev.branchboot.server.util;

/**
 * Text from a request or a setting made safe to put in a log line, a problem body or a start-up
 * message: control characters (a newline that would forge a log line, a terminal escape) become
 * {@code \xNN}; everything else is left as it is.
 */
public final class PrintableText {
    private PrintableText() {
    }

    /** {@code text} with every control character (below 0x20, and 0x7f) written as {@code \xNN}. */
    public static String of(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\x%02x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
