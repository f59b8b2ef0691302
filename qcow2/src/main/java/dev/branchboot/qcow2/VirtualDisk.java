package dev.branchboot.qcow2;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A read-only virtual disk: a QCOW2 image with its backing chain, or a raw image. Safe for
 * concurrent use.
 */
public interface VirtualDisk extends Closeable {

    /** The image's name (path or URL), as used in error messages. */
    String name();

    /** The virtual size in bytes. */
    long size();

    /**
     * Fills {@code dst} with the virtual disk's bytes starting at {@code offset}. The range must lie
     * inside the disk.
     */
    void read(long offset, ByteBuffer dst) throws IOException;

    /**
     * The allocation of {@code [offset, offset + length)} as a list of adjacent extents that cover
     * the range exactly, neighbours with the same state merged.
     */
    List<Extent> extents(long offset, long length) throws IOException;

    /** Facts about the image and the layers below it, for {@code info}. */
    ImageInfo info() throws IOException;

    /**
     * The unit in which allocation is mapped (a QCOW2 image's cluster size), which bounds what one
     * {@link #extents} query costs; 0 when the whole disk is one extent whatever its length (raw).
     */
    default long allocationUnit() {
        return 0;
    }

    /** The disk below this one, whose bytes show where this one has none; {@code null} if none. */
    default VirtualDisk backing() {
        return null;
    }
}
