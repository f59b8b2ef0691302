package dev.branchboot.agent.blockdev;

import dev.branchboot.qcow2.Allocation;
import dev.branchboot.qcow2.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A read-only device over a byte array, standing in for an image in unit tests: 4 KiB blocks that
 * are all zero report as holes, everything else as data.
 */
public final class MemoryDevice extends ReadOnlyBlockDevice {
    private final byte[] bytes;
    private volatile boolean closed;

    public MemoryDevice(byte[] bytes) {
        this.bytes = bytes;
    }

    /** Random content with zero runs, of {@code size} bytes. */
    public static MemoryDevice random(int size, long seed) {
        byte[] b = new byte[size];
        Random r = new Random(seed);
        for (int off = 0; off < size; off += 4096) {
            int n = Math.min(4096, size - off);
            if (r.nextInt(3) != 0) {
                byte[] block = new byte[n];
                r.nextBytes(block);
                System.arraycopy(block, 0, b, off, n);
            }
        }
        return new MemoryDevice(b);
    }

    public byte[] bytes() {
        return bytes.clone();
    }

    public boolean closed() {
        return closed;
    }

    @Override
    public String name() {
        return "memory";
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public void read(long offset, ByteBuffer dst) {
        dst.put(bytes, (int) offset, dst.remaining());
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        List<Extent> out = new ArrayList<>();
        long end = offset + length;
        long p = offset;
        while (p < end) {
            long blockEnd = Math.min(end, (p / 4096 + 1) * 4096);
            boolean zero = true;
            for (long i = (p / 4096) * 4096; i < Math.min(bytes.length, (p / 4096 + 1) * 4096) && zero; i++) {
                zero = bytes[(int) i] == 0;
            }
            Allocation a = zero ? Allocation.HOLE : Allocation.DATA;
            if (!out.isEmpty() && out.get(out.size() - 1).allocation() == a) {
                Extent last = out.remove(out.size() - 1);
                out.add(new Extent(last.offset(), blockEnd - last.offset(), a));
            } else {
                out.add(new Extent(p, blockEnd - p, a));
            }
            p = blockEnd;
        }
        return out;
    }

    @Override
    public void close() {
        closed = true;
    }
}
