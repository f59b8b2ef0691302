package dev.branchboot.agent.nbd;

import java.nio.ByteBuffer;

/**
 * One transmission-phase request as read from the wire, and what it holds until its reply is
 * written: a WRITE's payload, a READ's data buffer, its share of the buffer budgets.
 */
final class Request {
    private static final String[] NAMES = {"READ", "WRITE", "DISC", "FLUSH", "TRIM", "CACHE", "WRITE_ZEROES", "BLOCK_STATUS"};

    final long cookie;
    final int type;
    final int flags;
    final long offset;
    final long length;
    ByteBuffer payload;
    /** The READ's data buffer from {@link ReadBuffers#take}, given back once its reply is written. */
    ByteBuffer data;
    /** Bytes of the connection's and the server's budgets this request holds until its reply is written. */
    int cost;
    /**
     * Served by a worker, whose replies go out through the connection's writer thread; otherwise
     * served and answered on the thread that reads the connection.
     */
    boolean queued;
    /** Whether the reply message that completes this request has been handed to the writer (worker only). */
    boolean lastPosted;

    Request(long cookie, int type, int flags, long offset, long length) {
        this.cookie = cookie;
        this.type = type;
        this.flags = flags;
        this.offset = offset;
        this.length = length;
    }

    boolean has(int flag) {
        return (flags & flag) != 0;
    }

    @Override
    public String toString() {
        String name = type < NAMES.length ? NAMES[type] : "command " + type;
        return name + " " + Long.toUnsignedString(offset) + "+" + length;
    }
}
