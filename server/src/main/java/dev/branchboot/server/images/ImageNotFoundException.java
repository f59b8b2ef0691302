package dev.branchboot.server.images;

import dev.branchboot.server.util.PrintableText;

/**
 * No servable image of that name: missing, a directory, hidden or still being written, or a
 * symlink leading outside the image root. Answered with 404; the message (for the log, never the
 * client) says which.
 */
public class ImageNotFoundException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String imageName;

    /** @param name the requested image name; {@code cause} says why it is not served */
    public ImageNotFoundException(String name, String cause) {
        super("image '" + PrintableText.of(name) + "' not served: " + cause);
        this.imageName = name;
    }

    /** The requested image name. */
    public String imageName() {
        return imageName;
    }
}
