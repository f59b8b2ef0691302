package dev.branchboot.agent.http;

import dev.branchboot.qcow2.ImageException;

/**
 * A failure reading an image from its servers: the message names the image, the file offset (when
 * there is one), the server(s) involved and what went wrong.
 */
public class HttpImageException extends ImageException {
    private static final long serialVersionUID = 1L;

    /** Creates an error about {@code image} at {@code offset} ({@link #NO_OFFSET} for none). */
    public HttpImageException(String image, long offset, String cause, Throwable underlying) {
        super(image, offset, cause, underlying);
    }
}
