package dev.branchboot.agent.nbd;

import static dev.branchboot.agent.nbd.NbdProtocol.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Frames and sends the replies of one connection: simple replies and structured chunks. Each
 * message goes out whole under a lock, so replies of requests served concurrently never
 * interleave. Once a send fails the writer is broken and every later send fails at once.
 *
 * <p>Who writes depends on who served the request ({@link Request#queued}). The thread that reads
 * the connection writes its own replies: when the client does not read them, it stops reading
 * requests, which is what should happen. A worker of the shared pool never writes: it posts the
 * message to this connection's writer thread (started at the first post) and goes on to other
 * connections' requests, so a client that stops reading holds its own writer thread, never the
 * workers. The writer sends posted messages in order and, after the message that completes a
 * request, hands the request to {@code onReplied}, which frees what it held: its data buffer and
 * its share of the budgets, which is what keeps the connection from reading further requests
 * while its replies are backed up.
 */
final class ReplyWriter {
    private final ByteChannel ch;
    private final Runnable onBroken;
    private final Consumer<Request> onReplied;
    private final String peer;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile long sendingSinceNanos;
    private volatile boolean broken;
    /** Requests whose last reply message has started to go out or been posted. */
    private final AtomicLong answered = new AtomicLong();
    /** Messages posted by workers, oldest first (guarded by itself). */
    private final ArrayDeque<Posted> posted = new ArrayDeque<>();
    /** The thread sending posted messages; started at the first post (guarded by {@link #posted}). */
    private Thread writer;
    /** Set once no more messages will be posted: the writer ends when it has sent the rest. */
    private boolean closed;

    /** A posted message (or none, only to complete a request in order) and the request it completes. */
    private record Posted(ByteBuffer[] message, Request completes) {
    }

    /** Thrown when the reply stream failed; the request's outcome can no longer be reported. */
    static final class ReplyFailed extends IOException {
        private static final long serialVersionUID = 1L;

        ReplyFailed(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    /**
     * {@code onBroken} runs (once or more) when a send fails, to close the connection;
     * {@code onReplied} runs on the writer thread for each posted request once its last message
     * is sent (or dropped, when the stream broke).
     */
    ReplyWriter(ByteChannel ch, Runnable onBroken, Consumer<Request> onReplied, String peer) {
        this.ch = ch;
        this.onBroken = onBroken;
        this.onReplied = onReplied;
        this.peer = peer;
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
     * started to go out or been posted. Counted before the bytes are written, so a client that
     * sends its next request on seeing a reply always finds the previous one counted.
     */
    long answered() {
        return answered.get();
    }

    /** When the send in progress started, or 0 when none is. */
    long sendingSinceNanos() {
        return sendingSinceNanos;
    }

    void simple(Request r, int error) throws IOException {
        send(r, true, simpleHeader(r.cookie, error));
    }

    /** A successful simple READ reply: header and data in one message. */
    void simpleData(Request r, ByteBuffer data) throws IOException {
        send(r, true, simpleHeader(r.cookie, 0), data);
    }

    void chunk(Request r, int flags, int type, ByteBuffer... payload) throws IOException {
        int length = 0;
        for (ByteBuffer b : payload) {
            length += b.remaining();
        }
        ByteBuffer header = ByteBuffer.allocate(20).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(r.cookie).putInt(length).flip();
        ByteBuffer[] all = new ByteBuffer[payload.length + 1];
        all[0] = header;
        System.arraycopy(payload, 0, all, 1, payload.length);
        send(r, (flags & REPLY_FLAG_DONE) != 0, all);
    }

    /**
     * An error reply: an ERROR chunk (with the message) once structured replies are negotiated,
     * which READ requires and the spec prefers for the rest; a simple reply otherwise.
     */
    void error(Request r, int errno, String message, boolean structured) throws IOException {
        if (structured) {
            byte[] msg = truncate(message);
            ByteBuffer payload = ByteBuffer.allocate(6 + msg.length).putInt(errno).putShort((short) msg.length).put(msg).flip();
            chunk(r, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, payload);
        } else {
            simple(r, errno);
        }
    }

    /** The final chunk of a structured READ that failed at {@code offset} after earlier chunks. */
    void errorAt(Request r, int errno, String message, long offset) throws IOException {
        byte[] msg = truncate(message);
        ByteBuffer payload = ByteBuffer.allocate(14 + msg.length).putInt(errno).putShort((short) msg.length).put(msg)
                .putLong(offset).flip();
        chunk(r, REPLY_FLAG_DONE, REPLY_TYPE_ERROR_OFFSET, payload);
    }

    /**
     * Completes a posted request that ended without a last message (its worker failed): after
     * every message posted before, so its buffer is not reused while one of them still refers to it.
     */
    void completeInOrder(Request r) {
        post(new Posted(null, r));
    }

    private static byte[] truncate(String message) {
        byte[] bytes = String.valueOf(message).getBytes(StandardCharsets.UTF_8);
        return bytes.length <= 1024 ? bytes : java.util.Arrays.copyOf(bytes, 1024);
    }

    private static ByteBuffer simpleHeader(long cookie, int error) {
        return ByteBuffer.allocate(16).putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
    }

    private void send(Request r, boolean last, ByteBuffer... message) throws IOException {
        if (last) {
            answered.incrementAndGet();
        }
        if (r.queued) {
            if (last) {
                r.lastPosted = true;
            }
            post(new Posted(message, last ? r : null));
            if (broken) {
                throw new ReplyFailed(new ClosedChannelException());
            }
            return;
        }
        if (broken) {
            throw new ReplyFailed(new ClosedChannelException());
        }
        write(message);
    }

    private void write(ByteBuffer[] message) throws ReplyFailed {
        lock.lock();
        try {
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

    private void post(Posted p) {
        synchronized (posted) {
            if (closed) {
                throw new IllegalStateException("a reply was posted after the connection ended");
            }
            posted.addLast(p);
            if (writer == null) {
                writer = new Thread(this::sendPosted, "nbd-writer-" + peer);
                writer.setDaemon(true);
                writer.start();
            } else if (posted.size() == 1) {
                posted.notify();
            }
        }
    }

    /** The writer thread: sends posted messages in order until {@link #close}; drops them once broken. */
    private void sendPosted() {
        while (true) {
            Posted p;
            synchronized (posted) {
                while (posted.isEmpty()) {
                    if (closed) {
                        return;
                    }
                    try {
                        posted.wait();
                    } catch (InterruptedException e) {
                        // Only close() ends this thread: requests may still complete through it.
                    }
                }
                p = posted.peekFirst();
            }
            try {
                if (p.message() != null && !broken) {
                    write(p.message());
                }
            } catch (ReplyFailed e) {
                // broken now: the rest is dropped, each request still completed
            } finally {
                synchronized (posted) {
                    posted.pollFirst();
                }
                if (p.completes() != null) {
                    onReplied.accept(p.completes());
                }
            }
        }
    }

    /**
     * Ends the writer thread once it has sent what was posted. Call when no request is in flight any
     * more: nothing may be posted afterwards.
     */
    void close() {
        synchronized (posted) {
            closed = true;
            posted.notify();
        }
    }
}
