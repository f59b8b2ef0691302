package dev.branchboot.agent.http;

/**
 * No server still has the revision of the image that the agent pinned when it opened it (each
 * answers {@code 412 Precondition Failed}, another ETag, or a confirmed {@code 404}): reading on
 * would mix bytes of two revisions, and waiting would not bring it back, so the read fails at once.
 */
public final class RevisionUnavailableException extends HttpImageException {
    private static final long serialVersionUID = 1L;

    /** Creates the error; {@code cause} names the revision and the servers asked. */
    public RevisionUnavailableException(String image, long offset, String cause) {
        super(image, offset, cause, null);
    }
}
