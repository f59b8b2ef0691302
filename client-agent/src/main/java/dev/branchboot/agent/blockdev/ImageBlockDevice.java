package dev.branchboot.agent.blockdev;

import dev.branchboot.qcow2.Extent;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The bottom layer: a read-only {@link VirtualDisk} (QCOW2 with its backing chain, or raw) seen as a
 * {@link BlockDevice}. Every write is refused; the overlay above takes them.
 */
public final class ImageBlockDevice extends ReadOnlyBlockDevice {
    /**
     * Reads are passed down in pieces of at most this size: the JDK copies heap buffers through a
     * per-thread direct buffer as large as the request and keeps it cached, so large pieces would
     * pin that much native memory per worker thread.
     */
    static final int MAX_PIECE = 1 << 20;
    /** A CACHE request warms at most this much, so a hint cannot keep a worker busy for long. */
    static final long MAX_PREFETCH = 32L << 20;

    /** One block-status query looks at most this many clusters, so its extent list stays small. */
    static final long MAX_STATUS_CLUSTERS = 1 << 16;

    private final VirtualDisk disk;
    private final long maxStatusLength;

    /** Adapts {@code disk}; closing this device closes it. */
    public ImageBlockDevice(VirtualDisk disk) {
        this.disk = disk;
        long unit = disk.allocationUnit();
        this.maxStatusLength = unit == 0 ? Long.MAX_VALUE : unit * MAX_STATUS_CLUSTERS; // raw: one extent however long
    }

    @Override
    public String name() {
        return disk.name();
    }

    @Override
    public long size() {
        return disk.size();
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        long position = offset;
        while (dst.hasRemaining()) {
            int n = Math.min(dst.remaining(), MAX_PIECE);
            ByteBuffer piece = dst.slice(dst.position(), n);
            disk.read(position, piece);
            dst.position(dst.position() + n);
            position += n;
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        return disk.extents(offset, Math.min(length, maxStatusLength));
    }

    @Override
    public void cache(long offset, long length) throws IOException {
        // Reading warms the image's L2 and decompressed-cluster caches; only data extents cost anything.
        long end = offset + Math.min(length, MAX_PREFETCH);
        ByteBuffer scratch = null;
        for (Extent extent : disk.extents(offset, end - offset)) {
            if (extent.allocation().readsAsZeros()) {
                continue;
            }
            for (long p = extent.offset(); p < extent.end(); p += MAX_PIECE) {
                if (scratch == null) {
                    scratch = ByteBuffer.allocate(MAX_PIECE);
                }
                scratch.clear().limit((int) Math.min(MAX_PIECE, extent.end() - p));
                disk.read(p, scratch);
            }
        }
    }

    @Override
    public void close() throws IOException {
        disk.close();
    }
}
