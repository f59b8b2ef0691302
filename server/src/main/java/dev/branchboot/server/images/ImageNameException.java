package dev.branchboot.server.images;

/**
 * A requested image name that can never name a file under the image root: an empty or {@code .}
 * / {@code ..} segment, an encoded slash or backslash, a NUL byte, bad percent-encoding. Answered
 * with 400.
 */
public class ImageNameException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param rawName the name as it appeared in the URL; {@code cause} says what is wrong with it */
    public ImageNameException(String rawName, String cause) {
        super("invalid image name '" + printable(rawName) + "': " + cause);
    }

    /** The name with control characters escaped, safe for a log line. */
    public static String printable(String name) {
        StringBuilder out = new StringBuilder(name.length());
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\x%02x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
