package dev.branchboot.agent.nbd;

import java.nio.ByteBuffer;

/** One transmission-phase request as read from the wire; a WRITE carries its payload. */
final class Request {
    private static final String[] NAMES = {"READ", "WRITE", "DISC", "FLUSH", "TRIM", "CACHE", "WRITE_ZEROES", "BLOCK_STATUS"};

    final long cookie;
    final int type;
    final int flags;
    final long offset;
    final long length;
    ByteBuffer payload;

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
