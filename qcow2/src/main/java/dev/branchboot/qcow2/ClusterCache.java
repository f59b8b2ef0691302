package dev.branchboot.qcow2;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decompressed clusters kept for reads that use part of one, least recently used first out,
 * bounded by a byte budget.
 *
 * <p>A cluster is kept from the second read that uses part of it on ({@link #admit}): random reads
 * touch most clusters once, and keeping those would only push out the clusters that are read again
 * (a file's blocks, directory and inode blocks), at the price of a whole-cluster decompression and
 * copy each. The first read decompresses only what it needs where the compression allows that.
 *
 * <p>The clusters live off the Java heap in fixed slots of direct memory, allocated a chunk at a
 * time as the cache fills and then reused: a cache of small arrays would be allocated, zeroed and
 * copied from generation to generation by the garbage collector on every miss, which measured as a
 * quarter of the agent's CPU time under random 4 KiB reads. Copies in and out happen under the
 * cache's lock, so a slot is never overwritten while a reader copies from it; they are a few
 * microseconds each.
 */
final class ClusterCache {
    /** Slots are allocated in chunks of about this many bytes (at least one cluster). */
    private static final int CHUNK_BYTES = 1 << 20;

    private final int clusterSize;
    private int maxSlots;
    private final int slotsPerChunk;
    private final List<ByteBuffer> chunks = new ArrayList<>();
    private final LinkedHashMap<Long, Integer> slots = new LinkedHashMap<>(64, 0.75f, true);
    /** Clusters read in part once and not kept (keys only), oldest first out. */
    private final LinkedHashMap<Long, Boolean> seenOnce;
    private int allocated;

    /** A cache of at most {@code maxBytes} of clusters of {@code clusterSize} bytes; 0 disables it. */
    ClusterCache(long maxBytes, int clusterSize) {
        this.clusterSize = clusterSize;
        this.maxSlots = (int) Math.min(Integer.MAX_VALUE - 8, maxBytes / clusterSize);
        this.slotsPerChunk = Math.max(1, CHUNK_BYTES / clusterSize);
        int remembered = (int) Math.min(1 << 20, 4L * maxSlots);
        this.seenOnce = new LinkedHashMap<>(64, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
                return size() > remembered;
            }
        };
    }

    /**
     * Whether a read of part of cluster {@code key}, which is not cached, should keep it: true when
     * an earlier read already used part of it (recently: the last four cache-fulls of clusters are
     * remembered), false for a first read, which is remembered.
     */
    synchronized boolean admit(long key) {
        if (maxSlots == 0) {
            return false;
        }
        if (seenOnce.remove(key) != null) {
            return true;
        }
        seenOnce.put(key, Boolean.TRUE);
        return false;
    }

    /**
     * Copies {@code length} bytes from offset {@code inCluster} of the cached cluster {@code key} to
     * {@code dst} at {@code dstIndex}; returns false (copying nothing) when it is not cached.
     */
    synchronized boolean read(long key, int inCluster, ByteBuffer dst, int dstIndex, int length) {
        Integer slot = slots.get(key);
        if (slot == null) {
            return false;
        }
        dst.put(dstIndex, slotBuffer(slot), inCluster, length);
        return true;
    }

    /** Caches a copy of {@code cluster} (exactly one cluster, from its position) as {@code key}. */
    synchronized void put(long key, ByteBuffer cluster) {
        if (maxSlots == 0 || slots.containsKey(key)) {
            return;
        }
        int slot = takeSlot();
        if (slot < 0) {
            return;
        }
        slotBuffer(slot).put(0, cluster, cluster.position(), clusterSize);
        slots.put(key, slot);
    }

    /** A new slot while the budget allows, else the least recently used one. */
    private int takeSlot() {
        if (allocated < maxSlots) {
            if (allocated % slotsPerChunk == 0) {
                int inChunk = (int) Math.min(slotsPerChunk, (long) maxSlots - allocated);
                try {
                    chunks.add(ByteBuffer.allocateDirect(inChunk * clusterSize));
                } catch (OutOfMemoryError e) {
                    // Direct memory (-XX:MaxDirectMemorySize, by default the heap size) is smaller
                    // than the cache was given: stop growing and reuse the slots there are.
                    maxSlots = allocated;
                    return slots.isEmpty() ? -1 : takeSlot();
                }
            }
            return allocated++;
        }
        Iterator<Map.Entry<Long, Integer>> eldest = slots.entrySet().iterator();
        int slot = eldest.next().getValue();
        eldest.remove();
        return slot;
    }

    private ByteBuffer slotBuffer(int slot) {
        ByteBuffer chunk = chunks.get(slot / slotsPerChunk);
        return chunk.slice((slot % slotsPerChunk) * clusterSize, clusterSize);
    }

    /** Bytes of clusters cached now. */
    synchronized long weight() {
        return (long) slots.size() * clusterSize;
    }
}
