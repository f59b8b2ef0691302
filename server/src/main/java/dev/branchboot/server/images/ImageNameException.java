package dev.branchboot.server.images;

import dev.branchboot.server.util.PrintableText;

/**
 * A requested image name that can never name a file under the image root: an empty or {@code .}
 * / {@code ..} segment, an encoded slash or backslash, a NUL byte, bad percent-encoding. Answered
 * with 400.
 */
public class ImageNameException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param rawName the name as it appeared in the URL; {@code cause} says what is wrong with it */
    public ImageNameException(String rawName, String cause) {
        super("invalid image name '" + PrintableText.of(rawName) + "': " + cause);
    }
}
