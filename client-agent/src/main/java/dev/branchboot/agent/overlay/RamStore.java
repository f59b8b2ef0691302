package dev.branchboot.agent.overlay;

import dev.branchboot.agent.units.ByteSizes;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;

/**
 * Overlay blocks in the Java heap, bounded by a byte budget. Lost when the agent exits, which is
 * what a lab PC that reboots into a clean image wants.
 */
final class RamStore implements OverlayStore {
    private final int blockSize;
    private final long blocks;
    private final long capacityBytes;
    // Guarded by CowOverlay's lock: mutated only under its write lock, read under its read lock.
    private final Map<Long, byte[]> data = new HashMap<>();

    RamStore(int blockSize, long blocks, long capacityBytes) {
        this.blockSize = blockSize;
        this.blocks = blocks;
        this.capacityBytes = capacityBytes;
    }

    @Override
    public String describe() {
        return "RAM overlay (" + ByteSizes.format(capacityBytes) + ")";
    }

    @Override
    public long capacityBlocks() {
        return capacityBytes / blockSize;
    }

    @Override
    public BlockStates initialStates() {
        return new BlockStates(blocks);
    }

    @Override
    public void read(long offset, ByteBuffer dst) {
        long position = offset;
        while (dst.hasRemaining()) {
            long block = position / blockSize;
            int in = (int) (position % blockSize);
            int n = Math.min(dst.remaining(), blockSize - in);
            byte[] bytes = data.get(block);
            if (bytes == null) {
                throw new IllegalStateException("RAM overlay has no block " + block + " though the map says DATA");
            }
            dst.put(bytes, in, n);
            position += n;
        }
    }

    @Override
    public void write(long offset, ByteBuffer src) {
        long position = offset;
        while (src.hasRemaining()) {
            long block = position / blockSize;
            int in = (int) (position % blockSize);
            int n = Math.min(src.remaining(), blockSize - in);
            byte[] bytes = data.computeIfAbsent(block, b -> new byte[blockSize]);
            src.get(bytes, in, n);
            position += n;
        }
    }

    @Override
    public void discard(long first, long end) {
        if (end - first > data.size()) {
            data.keySet().removeIf(b -> b >= first && b < end);
        } else {
            for (long b = first; b < end; b++) {
                data.remove(b);
            }
        }
    }

    @Override
    public void sync(BlockStates states) {
        // RAM is as durable as it gets: the data vanishes with the process either way.
    }

    @Override
    public void close() {
        data.clear();
    }
}
