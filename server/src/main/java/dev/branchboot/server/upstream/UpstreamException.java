package dev.branchboot.server.upstream;

import dev.branchboot.server.util.DisplayUrl;
import java.net.URI;

/**
 * An upstream request that failed or answered something the cache must not store. The message
 * names the image, revision, range, upstream and cause, so the log line alone says what to check.
 */
public class UpstreamException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong, also the {@code kind} tag of {@code branchboot_upstream_errors_total}. */
    public enum Kind {
        /** Could not connect, or the connection failed before a response. */
        CONNECT,
        /** No response or no body bytes within the upstream timeout. */
        TIMEOUT,
        /** The upstream has no image of that name (404 or 410, or no such file). */
        NOT_FOUND,
        /** The upstream no longer has the revision asked for (412 to If-Match, or another ETag). */
        REVISION_GONE,
        /** An unexpected status, such as 200 to a range request or a 5xx. */
        STATUS,
        /** Content-Range missing or not the range asked for, or the size changed. */
        WRONG_RANGE,
        /** The body was shorter or longer than the range, or the connection died midway. */
        WRONG_LENGTH,
        /** Reading a {@code file:} upstream failed. */
        IO,
        /** The bytes are not the ones the image's signed manifest vouches for (a lying or broken upstream). */
        INTEGRITY
    }

    private final Kind kind;
    private final URI upstream;

    /** A failure of {@code kind} at {@code upstream}, with a message naming image, revision and range. */
    public UpstreamException(Kind kind, URI upstream, String message, Throwable cause) {
        this(kind, upstream, message + " [upstream " + DisplayUrl.of(upstream) + ", " + kind + "]", cause, true);
    }

    private UpstreamException(Kind kind, URI upstream, String fullMessage, Throwable cause, boolean writableStackTrace) {
        super(fullMessage, cause, true, writableStackTrace);
        this.kind = kind;
        this.upstream = upstream;
    }

    /**
     * The same failure once more, as a new exception with the same message and no cause: for an
     * answer remembered and given again, since an exception shared between requests would gather
     * each one's suppressed exceptions.
     */
    UpstreamException repeated() {
        return new UpstreamException(kind, upstream, getMessage(), null, false);
    }

    /** What went wrong. */
    public Kind kind() {
        return kind;
    }

    /** The upstream base URL that failed. */
    public URI upstream() {
        return upstream;
    }

    /** Whether trying again later (or another upstream) may help; a missing image or revision will not come back by retrying. */
    public boolean retryable() {
        return kind != Kind.NOT_FOUND && kind != Kind.REVISION_GONE;
    }
}
