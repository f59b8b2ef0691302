package dev.branchboot.agent.attach;

/**
 * Attaching or detaching a kernel NBD device failed: the message names the device, the image (when
 * there is one) and the cause, e.g. {@code /dev/nbd0 (image debian.qcow2): nbd-client exited with
 * status 1: Error: Failed to setup device}.
 */
public final class AttachException extends Exception {
    private static final long serialVersionUID = 1L;

    /** An error for {@code device} (and {@code image}, or null) with its cause in words. */
    public AttachException(String device, String image, String cause) {
        super(device + (image == null ? "" : " (image " + image + ")") + ": " + cause);
    }

    /** The same, keeping the exception that caused it. */
    public AttachException(String device, String image, String cause, Throwable throwable) {
        super(device + (image == null ? "" : " (image " + image + ")") + ": " + cause, throwable);
    }
}
