package dev.branchboot.agent.nbd;

import static dev.branchboot.agent.nbd.NbdProtocol.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Frames and sends the replies of one connection: simple replies and structured chunks. Each
 * message goes out whole under a lock, so replies of requests served concurrently never
 * interleave. Once a send fails the writer is broken and every later send fails at once.
 */
final class ReplyWriter {
    private final ByteChannel ch;
    private final Runnable onBroken;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile long sendingSinceNanos;
    private volatile boolean broken;
    /** Requests whose last reply message has started to go out (written under the lock). */
    private volatile long answered;

    /** Thrown when the reply stream failed; the request's outcome can no longer be reported. */
    static final class ReplyFailed extends IOException {
        private static final long serialVersionUID = 1L;

        ReplyFailed(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    /** {@code onBroken} runs (once or more) when a send fails, to close the connection. */
    ReplyWriter(ByteChannel ch, Runnable onBroken) {
        this.ch = ch;
        this.onBroken = onBroken;
    }

    boolean broken() {
        return broken;
    }

    /** Marks the stream unusable, e.g. when the client stopped reading. */
    void markBroken() {
        broken = true;
    }

    /**
     * How many requests' final reply messages (a simple reply, or a chunk with the DONE flag) have
     * started to go out. Counted before the bytes are written, so a client that sends its next
     * request on seeing a reply always finds the previous one counted.
     */
    long answered() {
        return answered;
    }

    /** When the send in progress started, or 0 when none is. */
    long sendingSinceNanos() {
        return sendingSinceNanos;
    }

    void simple(long cookie, int error) throws IOException {
        send(true, simpleHeader(cookie, error));
    }

    /** A successful simple READ reply: header and data in one message. */
    void simpleData(long cookie, ByteBuffer data) throws IOException {
        send(true, simpleHeader(cookie, 0), data);
    }

    void chunk(long cookie, int flags, int type, ByteBuffer... payload) throws IOException {
        int length = 0;
        for (ByteBuffer b : payload) {
            length += b.remaining();
        }
        ByteBuffer header = ByteBuffer.allocate(20).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(cookie).putInt(length).flip();
        ByteBuffer[] all = new ByteBuffer[payload.length + 1];
        all[0] = header;
        System.arraycopy(payload, 0, all, 1, payload.length);
        send((flags & REPLY_FLAG_DONE) != 0, all);
    }

    /**
     * An error reply: an ERROR chunk (with the message) once structured replies are negotiated,
     * which READ requires and the spec prefers for the rest; a simple reply otherwise.
     */
    void error(long cookie, int errno, String message, boolean structured) throws IOException {
        if (structured) {
            byte[] msg = truncate(message);
            ByteBuffer payload = ByteBuffer.allocate(6 + msg.length).putInt(errno).putShort((short) msg.length).put(msg).flip();
            chunk(cookie, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, payload);
        } else {
            simple(cookie, errno);
        }
    }

    /** The final chunk of a structured READ that failed at {@code offset} after earlier chunks. */
    void errorAt(long cookie, int errno, String message, long offset) throws IOException {
        byte[] msg = truncate(message);
        ByteBuffer payload = ByteBuffer.allocate(14 + msg.length).putInt(errno).putShort((short) msg.length).put(msg)
                .putLong(offset).flip();
        chunk(cookie, REPLY_FLAG_DONE, REPLY_TYPE_ERROR_OFFSET, payload);
    }

    private static byte[] truncate(String message) {
        byte[] bytes = String.valueOf(message).getBytes(StandardCharsets.UTF_8);
        return bytes.length <= 1024 ? bytes : java.util.Arrays.copyOf(bytes, 1024);
    }

    private static ByteBuffer simpleHeader(long cookie, int error) {
        return ByteBuffer.allocate(16).putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
    }

    private void send(boolean last, ByteBuffer... message) throws IOException {
        if (broken) {
            throw new ReplyFailed(new ClosedChannelException());
        }
        lock.lock();
        try {
            if (last) {
                answered++;
            }
            sendingSinceNanos = System.nanoTime();
            Wire.writeFully(ch, message);
        } catch (IOException e) {
            broken = true;
            onBroken.run();
            throw new ReplyFailed(e);
        } finally {
            sendingSinceNanos = 0;
            lock.unlock();
        }
    }
}
