package dev.branchboot.qcow2;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decompressed clusters kept for reads that use part of one, bounded by a byte budget, in two
 * segments (a segmented LRU): a cluster enters a small probation segment, oldest out first, and
 * moves to the main segment, least recently used out first, when a second read uses it. Random
 * reads touch most clusters once: they cycle through the few probation slots and never push out
 * the clusters that are read again (a file's blocks, directory and inode blocks), while the next
 * 4 KiB of a cluster a reader has just started finds it in probation.
 *
 * <p>The clusters live off the Java heap in fixed slots of direct memory, allocated a chunk at a
 * time as the cache fills and then reused: a cache of small arrays would be allocated, zeroed and
 * copied from generation to generation by the garbage collector on every miss, which measured as a
 * quarter of the agent's CPU time under random 4 KiB reads. Reusing probation slots also keeps
 * one-off reads from touching new memory, which costs a page fault per 4 KiB (a millisecond and
 * more per chunk in virtual machines). Copies in and out happen under the cache's lock, so a slot
 * is never overwritten while a reader copies from it; they are a few microseconds each.
 */
final class ClusterCache {
    /**
     * Slots are allocated in chunks of about this many bytes (at least one cluster): one cluster's
     * worth, so that the read that grows the cache pays for one slot's fresh memory, not for a
     * MiB of it (1 MiB chunks put a millisecond stall into one read in sixteen while the cache
     * grew: three times the p99 of cold random reads, {@code bench/agent-http-vs-qemu.sh}).
     */
    private static final int CHUNK_BYTES = 64 << 10;
    /**
     * The probation segment's share of the budget: a quarter, at most 256 clusters (16 MiB of
     * 64 KiB clusters). A boot reads a cluster's 4 KiB pieces spread over hundreds of other reads:
     * with 32 slots, clusters left probation before their next piece was read and were fetched and
     * decompressed again, 20% more bytes for the recorded Debian boot; with 256, 7%
     * ({@code bench/agent-read-ahead.sh}, the run with {@code --read-ahead 0}). Half the budget
     * shrank the main segment too much (11%).
     */
    private static final int MAX_PROBATION = 256;

    private final int clusterSize;
    private int maxSlots;
    private final int probationSlots;
    private final int slotsPerChunk;
    private final List<ByteBuffer> chunks = new ArrayList<>();
    /** Clusters used once, oldest first. */
    private final LinkedHashMap<Long, Integer> probation = new LinkedHashMap<>(64, 0.75f, false);
    /** Clusters used again, least recently used first. */
    private final LinkedHashMap<Long, Integer> main = new LinkedHashMap<>(64, 0.75f, true);
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private int allocated;

    /** Chunks a background thread allocated ahead of need, in slot order; taken under the lock. */
    private final ArrayDeque<ByteBuffer> prepared = new ArrayDeque<>();

    /** A cache of at most {@code maxBytes} of clusters of {@code clusterSize} bytes; 0 disables it. */
    ClusterCache(long maxBytes, int clusterSize) {
        this.clusterSize = clusterSize;
        this.maxSlots = (int) Math.min(Integer.MAX_VALUE - 8, maxBytes / clusterSize);
        this.probationSlots = Math.max(1, Math.min(MAX_PROBATION, maxSlots / 4));
        this.slotsPerChunk = Math.max(1, CHUNK_BYTES / clusterSize);
    }

    /**
     * Allocates the probation segment's memory on a thread of its own, in the background, so that
     * the reads that fill the cache do not pay its page faults (a boot's reads and cold random
     * reads both fill probation first: 16 MiB of fresh memory cost cold random reads 15% of their
     * IOPS, {@code bench/agent-http-vs-qemu.sh}). A read that needs a slot before its chunk is ready
     * allocates it itself, as without this.
     */
    void prepareInBackground() {
        int chunksWanted = (Math.min(probationSlots, maxSlots) + slotsPerChunk - 1) / slotsPerChunk;
        if (chunksWanted == 0) {
            return;
        }
        Thread preparer = new Thread(() -> {
            for (int i = 0; i < chunksWanted; i++) {
                ByteBuffer chunk;
                try {
                    chunk = ByteBuffer.allocateDirect(slotsPerChunk * clusterSize);
                } catch (OutOfMemoryError e) {
                    return; // the reads find the limit themselves
                }
                synchronized (this) {
                    if (chunks.size() + prepared.size() >= chunksWanted) {
                        return; // the reads were faster
                    }
                    prepared.add(chunk);
                }
            }
        }, "cluster-cache-memory");
        preparer.setDaemon(true);
        preparer.start();
    }

    /**
     * Copies {@code length} bytes from offset {@code inCluster} of the cached cluster {@code key} to
     * {@code dst} at {@code dstIndex}; returns false (copying nothing) when it is not cached.
     */
    synchronized boolean read(long key, int inCluster, ByteBuffer dst, int dstIndex, int length) {
        Integer slot = main.get(key);
        if (slot == null) {
            slot = probation.remove(key);
            if (slot == null) {
                return false;
            }
            promote(key, slot);
        }
        dst.put(dstIndex, slotBuffer(slot), inCluster, length);
        return true;
    }

    /** A second read of a probation cluster moves it to the main segment, making room there. */
    private void promote(long key, int slot) {
        if (maxSlots - probationSlots <= 0) {
            probation.put(key, slot); // no main segment in so small a cache
            return;
        }
        main.put(key, slot);
        if (main.size() > maxSlots - probationSlots) {
            Iterator<Map.Entry<Long, Integer>> eldest = main.entrySet().iterator();
            free.push(eldest.next().getValue());
            eldest.remove();
        }
    }

    /** Caches a copy of {@code cluster} (exactly one cluster, from its position) as {@code key}, on probation. */
    synchronized void put(long key, ByteBuffer cluster) {
        if (maxSlots == 0 || main.containsKey(key) || probation.containsKey(key)) {
            return;
        }
        int slot = takeSlot();
        if (slot < 0) {
            return;
        }
        slotBuffer(slot).put(0, cluster, cluster.position(), clusterSize);
        probation.put(key, slot);
    }

    /** The oldest probation slot once probation is full, else a free or new one, else the main segment's LRU. */
    private int takeSlot() {
        if (probation.size() >= probationSlots) {
            return removeEldest(probation);
        }
        if (!free.isEmpty()) {
            return free.pop();
        }
        if (allocated < maxSlots) {
            if (allocated % slotsPerChunk == 0) {
                int inChunk = (int) Math.min(slotsPerChunk, (long) maxSlots - allocated);
                try {
                    chunks.add(inChunk == slotsPerChunk && !prepared.isEmpty() ? prepared.poll()
                            : ByteBuffer.allocateDirect(inChunk * clusterSize));
                } catch (OutOfMemoryError e) {
                    // Direct memory (-XX:MaxDirectMemorySize, by default the heap size) is smaller
                    // than the cache was given: stop growing and reuse the slots there are.
                    maxSlots = allocated;
                    return probation.isEmpty() && main.isEmpty() ? -1
                            : removeEldest(probation.isEmpty() ? main : probation);
                }
            }
            return allocated++;
        }
        return removeEldest(main.isEmpty() ? probation : main);
    }

    private static int removeEldest(LinkedHashMap<Long, Integer> segment) {
        Iterator<Map.Entry<Long, Integer>> eldest = segment.entrySet().iterator();
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
        return (long) (main.size() + probation.size()) * clusterSize;
    }
}
