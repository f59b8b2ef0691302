package dev.branchboot.agent.nbd;

import java.nio.ByteBuffer;

/**
 * One direct buffer per serving thread for READ data, reused by every read it serves: the image
 * decompresses straight into it and the socket sends straight from it, with no per-request
 * allocation (zeroing, page faults, garbage) and no copy through the JDK's temporary direct buffer.
 * A worker serves one request at a time and its reply is sent before the next begins, so the
 * buffer is never shared. Memory: what the largest read of the thread needed (64 KiB to
 * {@link #CAPACITY}) per thread that has served a read: the workers, and the connection threads
 * that serve reads at queue depth one themselves.
 */
final class ReadBuffers {
    /** Reads up to this size use the thread's buffer; larger (simple-reply) reads allocate. */
    static final int CAPACITY = RequestHandler.READ_PIECE;

    /** The smallest buffer a thread keeps; it grows (doubling) to what its reads need, up to {@link #CAPACITY}. */
    static final int FIRST = 64 * 1024;

    private static final ThreadLocal<ByteBuffer> BUFFERS = new ThreadLocal<>();

    private ReadBuffers() {
    }

    /** A buffer of exactly {@code length} bytes for this thread's current read. */
    static ByteBuffer forRead(int length) {
        if (length > CAPACITY) {
            return ByteBuffer.allocate(length);
        }
        ByteBuffer buffer = BUFFERS.get();
        if (buffer == null || buffer.capacity() < length) {
            int size = buffer == null ? FIRST : buffer.capacity();
            while (size < length) {
                size *= 2;
            }
            buffer = ByteBuffer.allocateDirect(Math.min(size, CAPACITY));
            BUFFERS.set(buffer);
        }
        return buffer.clear().limit(length).slice();
    }
}
