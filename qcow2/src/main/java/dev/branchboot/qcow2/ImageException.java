package dev.branchboot.qcow2;

import java.io.IOException;

/**
 * Base of every error about a disk image: its message always names the image, and the byte offset
 * in that image's file where the problem was found when there is one.
 */
public class ImageException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Marks "no particular offset" in {@link #offset()}. */
    public static final long NO_OFFSET = -1;

    private final String image;
    private final long offset;

    /** Creates an error about {@code image} at {@code offset} (or {@link #NO_OFFSET}). */
    public ImageException(String image, long offset, String cause) {
        this(image, offset, cause, null);
    }

    /** Creates an error about {@code image} at {@code offset}, wrapping a lower-level failure. */
    public ImageException(String image, long offset, String cause, Throwable underlying) {
        super(format(image, offset, cause), underlying);
        this.image = image;
        this.offset = offset;
    }

    private static String format(String image, long offset, String cause) {
        return offset == NO_OFFSET
                ? image + ": " + cause
                : image + ": at offset " + offset + " (0x" + Long.toHexString(offset) + "): " + cause;
    }

    /** The name of the image the error is about. */
    public String image() {
        return image;
    }

    /** The file offset the error is about, or {@link #NO_OFFSET}. */
    public long offset() {
        return offset;
    }
}
