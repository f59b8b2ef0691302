package dev.branchboot.agent.http;

/**
 * Told of every range an image server answered successfully, on the thread that fetched it: for a
 * record of what crossed the network (the boot trace). Called after the bytes are in the reader's
 * buffer; it must be quick and must not throw.
 */
@FunctionalInterface
public interface FetchListener {
    /** Ignores every fetch. */
    FetchListener NONE = (path, offset, length, startNanos, endNanos) -> { };

    /**
     * Bytes {@code offset .. offset + length - 1} of file {@code path} (relative to the servers'
     * images folder, the pinned revision's name) arrived; the request started at
     * {@code startNanos} and ended at {@code endNanos} ({@link System#nanoTime()}).
     */
    void fetched(String path, long offset, int length, long startNanos, long endNanos);
}
