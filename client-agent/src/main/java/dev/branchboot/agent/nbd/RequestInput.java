package dev.branchboot.agent.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The request stream of one connection in the transmission phase, read in gulps of up to
 * {@link #CAPACITY} bytes rather than one message at a time: one system call brings in every
 * request a pipelining client has sent, and {@link #buffered()} tells whether more requests are
 * already waiting, which decides whether a request can be served on the reading thread;
 * {@link #poll()} looks for them without waiting.
 */
final class RequestInput {
    static final int CAPACITY = 64 * 1024;

    private final SocketChannel ch;
    private final ByteBuffer buf = ByteBuffer.allocate(CAPACITY).flip();
    /** The peer closed its side, seen by {@link #poll()} before anyone waited for a message. */
    private boolean ended;

    RequestInput(SocketChannel ch) {
        this.ch = ch;
    }

    /**
     * Reads what has arrived without waiting; true when bytes of a further message are here. Only
     * while no other thread uses the channel: it is non-blocking for the moment of the read.
     */
    boolean poll() throws IOException {
        if (buf.hasRemaining() || ended) {
            return buf.hasRemaining();
        }
        buf.clear();
        int n;
        ch.configureBlocking(false);
        try {
            n = ch.read(buf);
        } finally {
            buf.flip();
            ch.configureBlocking(true);
        }
        ended = n < 0;
        return n > 0;
    }

    /**
     * Waits until at least one byte of the next message is here; false when the stream ends
     * first (a clean close between messages).
     */
    boolean awaitMessage() throws IOException {
        if (buf.hasRemaining()) {
            return true;
        }
        if (ended) {
            return false;
        }
        buf.clear();
        int n = ch.read(buf);
        buf.flip();
        return n > 0 || (n == 0 && awaitMessage());
    }

    /** True when bytes of a further message have already arrived. */
    boolean buffered() {
        return buf.hasRemaining();
    }

    /** Fills {@code dst}: buffered bytes first, the rest straight from the channel. */
    void readFully(ByteBuffer dst) throws IOException {
        if (dst.remaining() <= CAPACITY && buf.remaining() < dst.remaining()) {
            // A small message split across reads (a header): gather it in the buffer.
            buf.compact();
            while (buf.position() < dst.remaining()) {
                if (ch.read(buf) < 0) {
                    buf.flip();
                    throw new EOFException("peer closed the connection in the middle of a message");
                }
            }
            buf.flip();
        }
        int n = Math.min(buf.remaining(), dst.remaining());
        dst.put(dst.position(), buf, buf.position(), n);
        dst.position(dst.position() + n);
        buf.position(buf.position() + n);
        Wire.readFully(ch, dst);
    }

    /** Reads and drops {@code length} bytes. */
    void discard(long length) throws IOException {
        int n = (int) Math.min(buf.remaining(), length);
        buf.position(buf.position() + n);
        Wire.discard(ch, length - n);
    }
}
