package dev.branchboot.agent.blockdev;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Base of the devices at the bottom of a stack, which are never written: every write, trim and
 * zero is refused with {@link ReadOnlyDeviceException} (answered as EPERM), and flush has nothing to
 * make durable. A subclass supplies size, reads and block status.
 */
public abstract class ReadOnlyBlockDevice implements BlockDevice {

    @Override
    public final boolean writable() {
        return false;
    }

    @Override
    public final void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        throw new ReadOnlyDeviceException(name(), "write", offset, src.remaining());
    }

    @Override
    public final void flush() {
        // Nothing is ever written here, so there is nothing to make durable.
    }

    @Override
    public final void trim(long offset, long length, boolean fua) throws IOException {
        throw new ReadOnlyDeviceException(name(), "trim", offset, length);
    }

    @Override
    public final void zero(long offset, long length, boolean mayUnmap, boolean fua) throws IOException {
        throw new ReadOnlyDeviceException(name(), "write zeroes", offset, length);
    }
}
