package dev.branchboot.integrity;

import java.io.IOException;

/**
 * A manifest that cannot be trusted or bytes that do not match it: damaged, truncated, signed by
 * another key, made for another file, or an image's bytes that are not the ones it vouches for.
 * The message names the image and, for bytes, the offset.
 */
public class ManifestException extends IOException {
    private static final long serialVersionUID = 1L;
    private final String image;

    /** A failure about the manifest of {@code image}. */
    public ManifestException(String image, String message) {
        this(image, message, null);
    }

    /** A failure about the manifest of {@code image}, caused by {@code cause}. */
    public ManifestException(String image, String message, Throwable cause) {
        super(image + ": " + message, cause);
        this.image = image;
    }

    /** The image the manifest is about. */
    public String image() {
        return image;
    }
}
