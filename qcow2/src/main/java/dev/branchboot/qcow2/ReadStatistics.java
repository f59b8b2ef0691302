package dev.branchboot.qcow2;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of what image reads cost, shared by every layer opened with the same
 * {@link ImageOptions}: how many clusters were decompressed and into how many bytes, and how often
 * the L2-table and decompressed-cluster caches answered. Cheap to update from many threads.
 */
public final class ReadStatistics {
    private final LongAdder clustersDecompressed = new LongAdder();
    private final LongAdder bytesDecompressed = new LongAdder();
    private final LongAdder clusterCacheHits = new LongAdder();
    private final LongAdder l2CacheHits = new LongAdder();
    private final LongAdder l2CacheMisses = new LongAdder();

    void decompressed(int bytes) {
        clustersDecompressed.increment();
        bytesDecompressed.add(bytes);
    }

    void clusterCacheHit() {
        clusterCacheHits.increment();
    }

    void l2Lookup(boolean hit) {
        (hit ? l2CacheHits : l2CacheMisses).increment();
    }

    /** Compressed clusters decompressed so far. */
    public long clustersDecompressed() {
        return clustersDecompressed.sum();
    }

    /** Bytes those clusters decompressed into. */
    public long bytesDecompressed() {
        return bytesDecompressed.sum();
    }

    /** Reads of part of a compressed cluster answered from the decompressed-cluster cache. */
    public long clusterCacheHits() {
        return clusterCacheHits.sum();
    }

    /** L2 table lookups answered from the cache. */
    public long l2CacheHits() {
        return l2CacheHits.sum();
    }

    /** L2 table lookups that read the table from the image. */
    public long l2CacheMisses() {
        return l2CacheMisses.sum();
    }
}
