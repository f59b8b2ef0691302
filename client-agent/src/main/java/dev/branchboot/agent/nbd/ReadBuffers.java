package dev.branchboot.agent.nbd;

import java.nio.ByteBuffer;

/**
 * One direct buffer per worker thread for READ data, reused by every read it serves: the image
 * decompresses straight into it and the socket sends straight from it, with no per-request
 * allocation (zeroing, page faults, garbage) and no copy through the JDK's temporary direct buffer.
 * A worker serves one request at a time and its reply is sent before the next begins, so the
 * buffer is never shared. Memory: {@link #CAPACITY} per worker thread that has served a read.
 */
final class ReadBuffers {
    /** Reads up to this size use the thread's buffer; larger (simple-reply) reads allocate. */
    static final int CAPACITY = RequestHandler.READ_PIECE;

    private static final ThreadLocal<ByteBuffer> BUFFERS = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(CAPACITY));

    private ReadBuffers() {
    }

    /** A buffer of exactly {@code length} bytes for this thread's current read. */
    static ByteBuffer forRead(int length) {
        if (length > CAPACITY) {
            return ByteBuffer.allocate(length);
        }
        return BUFFERS.get().clear().limit(length).slice();
    }
}
