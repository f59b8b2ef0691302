package dev.branchboot.agent.overlay;

/**
 * An overlay file belongs to another image revision (or another disk size or block size): attaching
 * it would put one image's changes on top of a different image.
 */
public final class OverlayMismatchException extends OverlayException {
    private static final long serialVersionUID = 1L;

    /** An error naming the overlay and what differs. */
    public OverlayMismatchException(String message) {
        super(message);
    }
}
