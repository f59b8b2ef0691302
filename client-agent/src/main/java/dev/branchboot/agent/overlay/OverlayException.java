package dev.branchboot.agent.overlay;

import java.io.IOException;

/** An overlay file cannot be used: corrupt, in use by another agent, or made for another disk. */
public class OverlayException extends IOException {
    private static final long serialVersionUID = 1L;

    /** An error whose message names the overlay file and the cause. */
    public OverlayException(String message) {
        super(message);
    }

    /** An error wrapping a lower-level failure. */
    public OverlayException(String message, Throwable cause) {
        super(message, cause);
    }
}
