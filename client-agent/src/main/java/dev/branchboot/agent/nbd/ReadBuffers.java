package dev.branchboot.agent.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * Direct buffers for READ data, pooled by size and reused by every read: the image decompresses
 * straight into one and the socket sends straight from it, with no per-request allocation
 * (zeroing, page faults, garbage) and no copy through the JDK's temporary direct buffer.
 *
 * <p>A buffer belongs to one request from {@link #take} until its reply has been written, then goes
 * back with {@link #give}: a worker does not write replies itself (a client that stops reading
 * would hold it), so a buffer outlives the worker's part of the request and cannot be the worker's
 * own. Sizes are powers of two from {@link #FIRST} to {@link #CAPACITY}, so a buffer is at most
 * twice the bytes the request's budget counts; at most {@link #IDLE_PER_SIZE} idle buffers are
 * kept per size (at most 31 MiB over all sizes), the rest are left to the garbage collector.
 */
final class ReadBuffers {
    /** Reads up to this size use a pooled buffer; larger (whole, unstreamed) reads allocate. */
    static final int CAPACITY = RequestHandler.READ_PIECE;

    /** The smallest pooled buffer. */
    static final int FIRST = 64 * 1024;

    /** As many as there are workers by default: a busy pool finds its buffers here. */
    static final int IDLE_PER_SIZE = 16;

    private static final int SIZES = Integer.numberOfTrailingZeros(CAPACITY) - Integer.numberOfTrailingZeros(FIRST) + 1;

    @SuppressWarnings("unchecked")
    private static final ArrayBlockingQueue<ByteBuffer>[] IDLE = new ArrayBlockingQueue[SIZES];

    static {
        for (int i = 0; i < SIZES; i++) {
            IDLE[i] = new ArrayBlockingQueue<>(IDLE_PER_SIZE);
        }
    }

    private ReadBuffers() {
    }

    /**
     * A buffer for {@code length} bytes of READ data: position 0, limit {@code length}. Give it back
     * with {@link #give} once nothing refers to it any more (its reply is written), and only once.
     */
    static ByteBuffer take(int length) {
        if (length > CAPACITY) {
            return ByteBuffer.allocate(length);
        }
        int size = size(length);
        ByteBuffer buffer = IDLE[size].poll();
        if (buffer == null) {
            buffer = ByteBuffer.allocateDirect(FIRST << size);
        }
        return buffer.clear().limit(length);
    }

    /** Returns a buffer from {@link #take} to the pool; {@code null} and unpooled buffers are ignored. */
    static void give(ByteBuffer buffer) {
        if (buffer == null || !buffer.isDirect() || buffer.capacity() > CAPACITY) {
            return;
        }
        int size = size(buffer.capacity());
        if ((FIRST << size) == buffer.capacity()) {
            IDLE[size].offer(buffer); // a full pool drops it
        }
    }

    /** The index of the smallest pooled size that holds {@code length} bytes. */
    private static int size(int length) {
        int bits = 32 - Integer.numberOfLeadingZeros(Math.max(FIRST, length) - 1);
        return bits - Integer.numberOfTrailingZeros(FIRST);
    }
}
