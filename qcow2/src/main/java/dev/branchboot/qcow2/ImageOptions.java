package dev.branchboot.qcow2;

import java.util.concurrent.Executor;

/**
 * Memory bounds and limits for opening images. Every cache is bounded by these numbers, never by
 * what an image claims.
 *
 * @param l2CacheBytes        bytes of L2 tables kept per image layer (qemu's default on Linux is 32 MiB)
 * @param clusterCacheBytes   bytes of decompressed clusters kept per image layer, for reads that
 *                            use part of a compressed cluster
 * @param maxBackingDepth     the most backing files below the top image
 * @param decompressExecutor  where a read that covers several compressed clusters decompresses
 *                            them in parallel; {@code null} decompresses on the calling thread
 * @param statistics          where the layers count decompressions and cache hits; {@code null} counts nothing
 */
public record ImageOptions(long l2CacheBytes, long clusterCacheBytes, int maxBackingDepth, Executor decompressExecutor,
                           ReadStatistics statistics) {

    /** 32 MiB of L2 tables, 64 MiB of decompressed clusters, 16 backing levels, no extra threads, no counters. */
    public static final ImageOptions DEFAULTS = new ImageOptions(32L << 20, 64L << 20, 16, null, null);

    /** Validates the bounds. */
    public ImageOptions {
        if (l2CacheBytes < 0 || clusterCacheBytes < 0) {
            throw new IllegalArgumentException("cache sizes must not be negative");
        }
        if (maxBackingDepth < 0 || maxBackingDepth > 1000) {
            throw new IllegalArgumentException("backing depth limit must be between 0 and 1000");
        }
    }

    /** A copy with another decompression executor. */
    public ImageOptions withDecompressExecutor(Executor executor) {
        return new ImageOptions(l2CacheBytes, clusterCacheBytes, maxBackingDepth, executor, statistics);
    }

    /** A copy with other cache sizes. */
    public ImageOptions withCaches(long l2Bytes, long clusterBytes) {
        return new ImageOptions(l2Bytes, clusterBytes, maxBackingDepth, decompressExecutor, statistics);
    }

    /** A copy with another backing depth limit. */
    public ImageOptions withMaxBackingDepth(int depth) {
        return new ImageOptions(l2CacheBytes, clusterCacheBytes, depth, decompressExecutor, statistics);
    }

    /** A copy that counts into {@code counters}. */
    public ImageOptions withStatistics(ReadStatistics counters) {
        return new ImageOptions(l2CacheBytes, clusterCacheBytes, maxBackingDepth, decompressExecutor, counters);
    }
}
