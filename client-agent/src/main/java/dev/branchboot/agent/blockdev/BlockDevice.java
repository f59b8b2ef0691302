package dev.branchboot.agent.blockdev;

import dev.branchboot.qcow2.Extent;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The one small block-device interface every layer of the agent implements: the image adapter at
 * the bottom, the copy-on-write overlay above it, and whatever filter slots in later. A layer holds
 * the layer below it, overrides what it changes and delegates the rest (see {@link BlockDeviceFilter}).
 *
 * <p>Callers validate ranges before calling: every {@code [offset, offset + length)} lies inside
 * {@code [0, size())}. Implementations are safe for concurrent use.
 */
public interface BlockDevice extends Closeable {

    /** A name for log lines and error messages (usually the image path). */
    String name();

    /** The size in bytes; constant for the device's lifetime. */
    long size();

    /** Whether {@link #write}, {@link #trim} and {@link #zero} are allowed. */
    boolean writable();

    /** Fills {@code dst} with the bytes starting at {@code offset}. */
    void read(long offset, ByteBuffer dst) throws IOException;

    /**
     * Writes the remaining bytes of {@code src} at {@code offset}; with {@code fua} they are durable
     * when the call returns.
     *
     * @throws ReadOnlyDeviceException when the device is not writable
     * @throws DeviceFullException      when there is no room for the data
     */
    void write(long offset, ByteBuffer src, boolean fua) throws IOException;

    /** Makes every completed write durable. */
    void flush() throws IOException;

    /** A hint that the range is no longer needed: afterwards its contents are unspecified. */
    void trim(long offset, long length, boolean fua) throws IOException;

    /**
     * Makes the range read as zeros. With {@code mayUnmap} the device may drop storage for it
     * instead of writing zeros.
     */
    void zero(long offset, long length, boolean mayUnmap, boolean fua) throws IOException;

    /**
     * The allocation of {@code [offset, offset + length)}: adjacent extents starting at
     * {@code offset}. They may cover less than the whole range (callers ask again for the rest), but
     * never more, and never nothing.
     */
    List<Extent> blockStatus(long offset, long length) throws IOException;

    /** A hint that the range will be read soon; the default does nothing. */
    default void cache(long offset, long length) throws IOException {
    }
}
