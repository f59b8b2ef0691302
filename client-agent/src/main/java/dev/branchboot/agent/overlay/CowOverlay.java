package dev.branchboot.agent.overlay;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.BlockDeviceFilter;
import dev.branchboot.agent.blockdev.DeviceFullException;
import dev.branchboot.qcow2.Allocation;
import dev.branchboot.qcow2.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.logging.Logger;

/**
 * The copy-on-write layer: writes land in an {@link OverlayStore} (RAM or a local file) in blocks of
 * {@link #BLOCK_SIZE}; reads merge the overlay with the read-only layer below, which is never
 * written. TRIM drops overlay blocks (the image shows through again), WRITE_ZEROES marks them zero
 * without storing anything, and FLUSH/FUA make a file overlay's data and map durable.
 *
 * <p>One lock orders the map: readers share it, writers take it alone. Reads from the layer below
 * (decompression, later network fetches) happen outside the lock, so a slow image never blocks
 * writers for long; a read that races with an overlapping write may see either version of each
 * block, which NBD allows for requests in flight together.
 */
public final class CowOverlay extends BlockDeviceFilter {
    /** Overlay granularity: the page size, and what filesystems and the kernel write in. */
    public static final int BLOCK_SIZE = 4096;
    /** Block status stops after this many runs, so one request cannot build an unbounded reply. */
    static final int MAX_RUNS = 1 << 16;
    private static final Logger LOG = Logger.getLogger(CowOverlay.class.getName());
    private static final long FULL_LOG_INTERVAL_NANOS = 10_000_000_000L;

    private final OverlayStore store;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final ReentrantLock syncLock = new ReentrantLock();
    private final BlockStates states;
    private final long blocks;
    private long changes;
    private long syncedChanges;
    private long lastFullLog = System.nanoTime() - FULL_LOG_INTERVAL_NANOS;

    private CowOverlay(BlockDevice below, OverlayStore store) {
        super(below);
        this.store = store;
        this.states = store.initialStates();
        this.blocks = states.blocks();
    }

    /** An overlay keeping at most {@code capacityBytes} of written data in RAM. */
    public static CowOverlay inRam(BlockDevice below, long capacityBytes) {
        long blocks = blocksFor(below.size());
        return new CowOverlay(below, new RamStore(BLOCK_SIZE, blocks, capacityBytes));
    }

    /**
     * An overlay in the sparse file {@code path} (and its map {@code path.map}) for image revision
     * {@code revision}; {@code reset} discards what the file held.
     *
     * @throws OverlayMismatchException when the file belongs to another image revision
     */
    public static CowOverlay inFile(BlockDevice below, Path path, String revision, boolean reset) throws IOException {
        return new CowOverlay(below, FileStore.open(path, BLOCK_SIZE, below.size(), revision, reset));
    }

    private static long blocksFor(long size) {
        return (size + BLOCK_SIZE - 1) / BLOCK_SIZE;
    }

    /** Where the overlay keeps its data, for the startup log line. */
    public String describe() {
        return store.describe();
    }

    /** Bytes of written data the overlay holds. */
    public long storedBytes() {
        lock.readLock().lock();
        try {
            return states.dataBlocks() * BLOCK_SIZE;
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public boolean writable() {
        return true;
    }

    private long blockStart(long block) {
        return block * BLOCK_SIZE;
    }

    private long blockEnd(long block) {
        return Math.min(size(), (block + 1) * BLOCK_SIZE);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int base = dst.position();
        long end = offset + dst.remaining();
        List<long[]> fromBelow = new ArrayList<>();
        lock.readLock().lock();
        try {
            long position = offset;
            while (position < end) {
                long block = position / BLOCK_SIZE;
                long runEnd = Math.min(end, blockStart(states.runEnd(block, blocks)));
                int n = (int) (runEnd - position);
                ByteBuffer slice = dst.slice(base + (int) (position - offset), n);
                switch (states.get(block)) {
                    case BlockStates.DATA -> store.read(position, slice);
                    case BlockStates.ZERO -> fillZeros(slice);
                    default -> fromBelow.add(new long[] {position, n});
                }
                position = runEnd;
            }
        } finally {
            lock.readLock().unlock();
        }
        for (long[] run : fromBelow) {
            below.read(run[0], dst.slice(base + (int) (run[0] - offset), (int) run[1]));
        }
        dst.position(dst.limit());
    }

    private static void fillZeros(ByteBuffer b) {
        while (b.remaining() >= 8) {
            b.putLong(0);
        }
        while (b.hasRemaining()) {
            b.put((byte) 0);
        }
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        if (!src.hasRemaining()) {
            return;
        }
        writeRange(offset, src);
        if (fua) {
            flush();
        }
    }

    /**
     * Writes {@code src} at {@code offset}. A block that is only partly covered and not yet in the
     * overlay is first filled from below (or with zeros); that read happens outside the lock, and
     * the write retries if the block changed state meanwhile.
     */
    private void writeRange(long offset, ByteBuffer src) throws IOException {
        long end = offset + src.remaining();
        long first = offset / BLOCK_SIZE;
        long last = (end - 1) / BLOCK_SIZE;
        List<Long> partial = new ArrayList<>(2);
        if (offset != blockStart(first) || end < blockEnd(first)) {
            partial.add(first);
        }
        if (last != first && end < blockEnd(last)) {
            partial.add(last);
        }
        Map<Long, byte[]> fetched = new HashMap<>();
        while (true) {
            List<Long> toFetch = new ArrayList<>();
            lock.readLock().lock();
            try {
                for (long b : partial) {
                    if (states.get(b) == BlockStates.ABSENT && !fetched.containsKey(b)) {
                        toFetch.add(b);
                    }
                }
            } finally {
                lock.readLock().unlock();
            }
            for (long b : toFetch) {
                byte[] bytes = new byte[BLOCK_SIZE];
                below.read(blockStart(b), ByteBuffer.wrap(bytes, 0, (int) (blockEnd(b) - blockStart(b))));
                fetched.put(b, bytes);
            }
            lock.writeLock().lock();
            try {
                boolean missing = false;
                for (long b : partial) {
                    missing |= states.get(b) == BlockStates.ABSENT && !fetched.containsKey(b);
                }
                if (missing) {
                    continue;
                }
                long fresh = 0;
                for (long b = first; b <= last; b = states.runEnd(b, last + 1)) {
                    if (states.get(b) != BlockStates.DATA) {
                        fresh += states.runEnd(b, last + 1) - b;
                    }
                }
                if (states.dataBlocks() + fresh > store.capacityBlocks()) {
                    throw full(offset, end - offset);
                }
                long rest = offset;
                long restEnd = end;
                for (long b : partial) {
                    int state = states.get(b);
                    if (state == BlockStates.DATA) {
                        continue;
                    }
                    byte[] whole = state == BlockStates.ZERO ? new byte[BLOCK_SIZE] : fetched.get(b);
                    long from = Math.max(offset, blockStart(b));
                    long to = Math.min(end, blockEnd(b));
                    src.slice(src.position() + (int) (from - offset), (int) (to - from))
                            .get(whole, (int) (from - blockStart(b)), (int) (to - from));
                    store.write(blockStart(b), ByteBuffer.wrap(whole, 0, (int) (blockEnd(b) - blockStart(b))));
                    states.set(b, BlockStates.DATA);
                    if (b == first) {
                        rest = Math.min(end, blockEnd(b));
                    }
                    if (b == last) {
                        restEnd = Math.max(offset, blockStart(b));
                    }
                }
                // What is left is whole blocks, or partial blocks already in the overlay.
                if (rest < restEnd) {
                    store.write(rest, src.slice(src.position() + (int) (rest - offset), (int) (restEnd - rest)));
                    for (long x = rest / BLOCK_SIZE; x <= (restEnd - 1) / BLOCK_SIZE; x++) {
                        states.set(x, BlockStates.DATA);
                    }
                }
                changes++;
                src.position(src.limit());
                return;
            } catch (DeviceFullException e) {
                logFull(e.getMessage());
                throw e;
            } finally {
                lock.writeLock().unlock();
            }
        }
    }

    private DeviceFullException full(long offset, long length) {
        String cause = "write of " + length + " bytes does not fit in the " + store.describe() + ", which holds "
                + states.dataBlocks() * BLOCK_SIZE + " bytes already; "
                + "new writes fail with ENOSPC until blocks are trimmed; give --cow ram a larger size or use --cow file:PATH";
        return new DeviceFullException(name(), offset, cause);
    }

    /** Says in the log why writes fail with ENOSPC, at most every ten seconds (the kernel retries a lot). */
    private void logFull(String message) {
        long now = System.nanoTime();
        if (now - lastFullLog >= FULL_LOG_INTERVAL_NANOS) {
            lastFullLog = now;
            LOG.warning(message);
        }
    }

    @Override
    public void flush() throws IOException {
        syncLock.lock();
        try {
            BlockStates snapshot;
            long upTo;
            lock.readLock().lock();
            try {
                if (changes == syncedChanges) {
                    return;
                }
                upTo = changes;
                snapshot = states.copy();
            } finally {
                lock.readLock().unlock();
            }
            store.sync(snapshot);
            syncedChanges = upTo;
        } finally {
            syncLock.unlock();
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        // Only whole blocks can be dropped; a partial block keeps its bytes (TRIM is a hint).
        long first = (offset + BLOCK_SIZE - 1) / BLOCK_SIZE;
        long end = offset + length;
        long endBlock = end == size() ? blocks : end / BLOCK_SIZE;
        if (first < endBlock) {
            setBlocks(first, endBlock, BlockStates.ABSENT);
        }
        if (fua) {
            flush();
        }
    }

    @Override
    public void zero(long offset, long length, boolean mayUnmap, boolean fua) throws IOException {
        // Zeroed blocks are marked, never stored: this is as fast as it gets, so FAST_ZERO never fails.
        long end = offset + length;
        long first = (offset + BLOCK_SIZE - 1) / BLOCK_SIZE;
        long endBlock = end == size() ? blocks : end / BLOCK_SIZE;
        if (first < endBlock) {
            setBlocks(first, endBlock, BlockStates.ZERO);
            zeroPartial(offset, Math.min(end, blockStart(first)));
            zeroPartial(Math.max(offset, blockStart(endBlock)), end);
        } else {
            zeroPartial(offset, end);
        }
        if (fua) {
            flush();
        }
    }

    private void zeroPartial(long from, long to) throws IOException {
        if (from >= to) {
            return;
        }
        lock.readLock().lock();
        try {
            if (states.get(from / BLOCK_SIZE) == BlockStates.ZERO) {
                return;
            }
        } finally {
            lock.readLock().unlock();
        }
        writeRange(from, ByteBuffer.allocate((int) (to - from)));
    }

    private void setBlocks(long first, long end, int state) throws IOException {
        lock.writeLock().lock();
        try {
            long b = first;
            while (b < end) {
                long runEnd = states.runEnd(b, end);
                int old = states.get(b);
                if (old != state) {
                    if (old == BlockStates.DATA) {
                        store.discard(b, runEnd);
                    }
                    for (long x = b; x < runEnd; x++) {
                        states.set(x, state);
                    }
                }
                b = runEnd;
            }
            changes++;
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        long end = offset + length;
        // Runs as {start, length, state}, collected under the lock; the image is asked outside it.
        List<long[]> runs = new ArrayList<>();
        lock.readLock().lock();
        try {
            long position = offset;
            while (position < end && runs.size() < MAX_RUNS) {
                long block = position / BLOCK_SIZE;
                long runEnd = Math.min(end, blockStart(states.runEnd(block, blocks)));
                runs.add(new long[] {position, runEnd - position, states.get(block)});
                position = runEnd;
            }
        } finally {
            lock.readLock().unlock();
        }
        List<Extent> result = new ArrayList<>();
        for (long[] run : runs) {
            long start = run[0];
            long runEnd = run[0] + run[1];
            if (run[2] == BlockStates.DATA) {
                append(result, new Extent(start, run[1], Allocation.DATA));
            } else if (run[2] == BlockStates.ZERO) {
                append(result, new Extent(start, run[1], Allocation.ZERO));
            } else {
                long covered = start;
                for (Extent e : below.blockStatus(start, run[1])) {
                    append(result, e);
                    covered = e.end();
                }
                if (covered < runEnd) {
                    break; // the image answered for less; the caller asks again for the rest
                }
            }
        }
        return result;
    }

    private static void append(List<Extent> list, Extent e) {
        if (!list.isEmpty()) {
            Extent last = list.get(list.size() - 1);
            if (last.allocation() == e.allocation() && last.end() == e.offset()) {
                list.set(list.size() - 1, new Extent(last.offset(), last.length() + e.length(), e.allocation()));
                return;
            }
        }
        list.add(e);
    }

    @Override
    public void cache(long offset, long length) throws IOException {
        below.cache(offset, length);
    }

    @Override
    public void close() throws IOException {
        try {
            flush();
            store.close();
        } finally {
            below.close();
        }
    }
}
