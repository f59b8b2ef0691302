package dev.branchboot.agent.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;

/** Blocking reads and writes of whole messages on a socket channel. */
final class Wire {
    /**
     * Heap buffers go to the socket in slices of at most this size: the JDK copies each call through
     * a per-thread direct buffer as large as the slice and keeps it, so unsliced 32 MiB writes would
     * pin 32 MiB of native memory per worker thread.
     */
    static final int MAX_SLICE = 256 * 1024;

    private Wire() {
    }

    /** Fills {@code buf}; an end of stream before it is full is an {@link EOFException}. */
    static void readFully(ByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            int n;
            if (buf.remaining() > MAX_SLICE && !buf.isDirect()) {
                ByteBuffer slice = buf.slice(buf.position(), MAX_SLICE);
                n = ch.read(slice);
                if (n > 0) {
                    buf.position(buf.position() + n);
                }
            } else {
                n = ch.read(buf);
            }
            if (n < 0) {
                throw new EOFException("peer closed the connection in the middle of a message");
            }
        }
    }

    /**
     * Reads exactly {@code buf.remaining()} bytes, or returns false if the stream ends before the
     * first byte (a clean close between messages).
     */
    static boolean readMessageStart(ByteChannel ch, ByteBuffer buf) throws IOException {
        int n = ch.read(buf);
        if (n < 0) {
            return false;
        }
        readFully(ch, buf);
        return true;
    }

    /** Reads and drops {@code length} bytes, a slice at a time, so a huge payload allocates nothing big. */
    static void discard(ByteChannel ch, long length) throws IOException {
        ByteBuffer scratch = ByteBuffer.allocate((int) Math.min(length, 64 * 1024));
        long left = length;
        while (left > 0) {
            scratch.clear().limit((int) Math.min(left, scratch.capacity()));
            readFully(ch, scratch);
            left -= scratch.limit();
        }
    }

    /**
     * Writes every buffer completely, in order: with one gathering write (one system call for a
     * reply's header and data) when the channel supports it and no large heap buffer needs slicing.
     */
    static void writeFully(ByteChannel ch, ByteBuffer... bufs) throws IOException {
        if (bufs.length > 1 && ch instanceof GatheringByteChannel g && fitsOneWrite(bufs)) {
            long left = 0;
            for (ByteBuffer buf : bufs) {
                left += buf.remaining();
            }
            while (left > 0) {
                left -= g.write(bufs);
            }
            return;
        }
        for (ByteBuffer buf : bufs) {
            while (buf.hasRemaining()) {
                if (buf.remaining() > MAX_SLICE && !buf.isDirect()) {
                    ByteBuffer slice = buf.slice(buf.position(), MAX_SLICE);
                    while (slice.hasRemaining()) {
                        ch.write(slice);
                    }
                    buf.position(buf.position() + MAX_SLICE);
                } else {
                    ch.write(buf);
                }
            }
        }
    }

    private static boolean fitsOneWrite(ByteBuffer[] bufs) {
        long heap = 0;
        for (ByteBuffer buf : bufs) {
            if (!buf.isDirect()) {
                heap += buf.remaining();
            }
        }
        return heap <= MAX_SLICE;
    }
}
