package dev.branchboot.qcow2;

import java.nio.ByteBuffer;

/** A byte source over an array, for tests that damage images in memory. */
final class MemorySource implements ByteSource {
    private final String name;
    private final byte[] bytes;

    MemorySource(String name, byte[] bytes) {
        this.name = name;
        this.bytes = bytes;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public int read(long position, ByteBuffer dst) {
        if (position >= bytes.length) {
            return 0;
        }
        int n = (int) Math.min(dst.remaining(), bytes.length - position);
        dst.put(bytes, (int) position, n);
        return n;
    }

    @Override
    public void close() {
    }
}
