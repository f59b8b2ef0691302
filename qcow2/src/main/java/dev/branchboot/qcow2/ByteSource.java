package dev.branchboot.qcow2;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Random-access, read-only bytes of one image file: a local file, or (in the agent) HTTP ranges.
 * Implementations must be safe for concurrent use by several threads.
 */
public interface ByteSource extends Closeable {

    /** A human-readable name of the file (a path or URL) used in every error message. */
    String name();

    /** The length of the file in bytes. */
    long size() throws IOException;

    /**
     * Reads bytes starting at {@code position} into {@code dst} until it is full or the end of the
     * file is reached; returns the number of bytes read (fewer than requested only at the end).
     */
    int read(long position, ByteBuffer dst) throws IOException;

    /**
     * A key identifying the underlying file, used to detect backing chains that loop back onto an
     * image already open. Two sources for the same file must return equal keys.
     */
    default Object identity() {
        return name();
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes at {@code position}, or throws a
     * {@link CorruptImageException} saying the file is truncated.
     */
    default void readFully(long position, ByteBuffer dst) throws IOException {
        int wanted = dst.remaining();
        int got = read(position, dst);
        if (got < wanted) {
            throw new CorruptImageException(name(), position,
                    "file is truncated: wanted " + wanted + " bytes, the file has only " + Math.max(got, 0));
        }
    }

    /** Opens a sibling file named {@code name} relative to this one, for backing files. */
    default ByteSource resolveSibling(String name) throws IOException {
        throw new BackingChainException(name(), "cannot resolve backing file '" + name + "' relative to this source");
    }
}
