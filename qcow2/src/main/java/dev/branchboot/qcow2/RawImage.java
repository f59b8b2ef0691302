package dev.branchboot.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/** A raw disk image: the file's bytes are the disk's bytes. Used mostly as a backing file. */
public final class RawImage implements VirtualDisk {
    private final ByteSource source;
    private final long size;

    /** Wraps {@code source}; the disk is as long as the file. */
    public RawImage(ByteSource source) throws IOException {
        this.source = source;
        this.size = source.size();
    }

    @Override
    public String name() {
        return source.name();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        Ranges.check(name(), offset, dst.remaining(), size);
        source.readFully(offset, dst);
    }

    @Override
    public List<Extent> extents(long offset, long length) {
        Ranges.check(name(), offset, length, size);
        return length == 0 ? List.of() : List.of(new Extent(offset, length, Allocation.DATA));
    }

    @Override
    public ImageInfo info() {
        return new ImageInfo(name(), "raw", size, size, null, null, null);
    }

    @Override
    public void close() throws IOException {
        source.close();
    }
}
