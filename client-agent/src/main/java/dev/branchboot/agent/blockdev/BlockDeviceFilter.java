package dev.branchboot.agent.blockdev;

import dev.branchboot.qcow2.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A layer that passes every call to the layer below it. Subclasses override only what they change,
 * the way an nbdkit filter does, so a new layer never has to restate the whole interface.
 */
public abstract class BlockDeviceFilter implements BlockDevice {
    /** The layer below. */
    protected final BlockDevice below;

    /** Wraps {@code below}; closing this layer closes it too. */
    protected BlockDeviceFilter(BlockDevice below) {
        this.below = below;
    }

    @Override
    public String name() {
        return below.name();
    }

    @Override
    public long size() {
        return below.size();
    }

    @Override
    public boolean writable() {
        return below.writable();
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        below.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        below.write(offset, src, fua);
    }

    @Override
    public void flush() throws IOException {
        below.flush();
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        below.trim(offset, length, fua);
    }

    @Override
    public void zero(long offset, long length, boolean mayUnmap, boolean fua) throws IOException {
        below.zero(offset, length, mayUnmap, fua);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        return below.blockStatus(offset, length);
    }

    @Override
    public void cache(long offset, long length) throws IOException {
        below.cache(offset, length);
    }

    @Override
    public void close() throws IOException {
        below.close();
    }
}
