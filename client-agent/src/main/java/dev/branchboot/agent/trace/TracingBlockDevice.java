package dev.branchboot.agent.trace;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.BlockDeviceFilter;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The top layer of a traced export: records every read the NBD client asks for in a
 * {@link ReadTrace}, with the image-file fetches made while serving it. Everything else passes
 * through untouched.
 */
public final class TracingBlockDevice extends BlockDeviceFilter {
    private final ReadTrace trace;

    /** Records the reads of {@code below} in {@code trace}; closing this layer does not close the trace. */
    public TracingBlockDevice(BlockDevice below, ReadTrace trace) {
        super(below);
        this.trace = trace;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        long began = System.nanoTime();
        trace.beginRead();
        try {
            below.read(offset, dst);
        } finally {
            trace.endRead(began, offset, length);
        }
    }
}
