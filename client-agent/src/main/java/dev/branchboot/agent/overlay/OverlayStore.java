package dev.branchboot.agent.overlay;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Where a {@link CowOverlay} keeps the bytes of its {@link BlockStates#DATA} blocks. Addresses are
 * disk offsets; block {@code b} covers {@code [b * blockSize, (b + 1) * blockSize)}. The overlay
 * serialises writers, so stores need only tolerate concurrent reads.
 */
interface OverlayStore extends Closeable {

    /** For messages: "RAM overlay (1 GiB)", "overlay file /var/lib/...". */
    String describe();

    /** The most {@code DATA} blocks the store can hold. */
    long capacityBlocks();

    /** The block map the store was opened with: empty for RAM, the persisted one for a file. */
    BlockStates initialStates();

    /** Reads bytes of blocks that are {@code DATA}. */
    void read(long offset, ByteBuffer dst) throws IOException;

    /**
     * Writes bytes; a block that was not {@code DATA} before is always written whole, so a store may
     * allocate it on its first write.
     */
    void write(long offset, ByteBuffer src) throws IOException;

    /** Blocks {@code [first, end)} no longer hold data; their space may be reused. */
    void discard(long first, long end) throws IOException;

    /** Makes everything written so far, and the map {@code states}, durable. */
    void sync(BlockStates states) throws IOException;
}
