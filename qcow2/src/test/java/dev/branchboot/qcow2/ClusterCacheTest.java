package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class ClusterCacheTest {
    private static ByteBuffer cluster(int size, int fill) {
        ByteBuffer b = ByteBuffer.allocate(size);
        for (int i = 0; i < size; i++) {
            b.put(i, (byte) (fill + i));
        }
        return b;
    }

    @Test
    void returnsWhatWasPutAndEvictsTheLeastRecentlyUsedOfTheMainSegment() {
        // 8 slots: 2 on probation, 6 in the main segment.
        ClusterCache cache = new ClusterCache(8 * 512, 512);
        for (int k = 0; k < 6; k++) {
            cache.put(k, cluster(512, k * 10));
            assertTrue(cache.read(k, 0, ByteBuffer.allocate(1), 0, 1), "a second read moves " + k + " to the main segment");
        }
        ByteBuffer dst = ByteBuffer.allocateDirect(20);
        assertTrue(cache.read(0, 100, dst, 4, 16), "cluster 0 is cached (and now recently used)");
        for (int i = 0; i < 16; i++) {
            assertEquals((byte) (100 + i), dst.get(4 + i));
        }
        cache.put(6, cluster(512, 60));
        assertTrue(cache.read(6, 0, dst, 0, 1), "promoting 6 pushes out the main segment's least recently used: 1");
        assertFalse(cache.read(1, 0, dst, 0, 1));
        for (int k : new int[] {0, 2, 3, 4, 5}) {
            assertTrue(cache.read(k, 0, dst, 0, 1), "cluster " + k);
        }
        assertTrue(cache.read(6, 511, dst, 0, 1));
        assertEquals((byte) (60 + 511), dst.get(0), "the freed slot holds the new cluster");
        assertEquals(6 * 512, cache.weight());
    }

    @Test
    void clustersReadOnceCycleThroughProbationWithoutPushingOutTheOthers() {
        ClusterCache cache = new ClusterCache(8 * 512, 512);
        ByteBuffer dst = ByteBuffer.allocate(1);
        for (int k = 0; k < 6; k++) {
            cache.put(k, cluster(512, k));
            cache.read(k, 0, dst, 0, 1);
        }
        for (int k = 100; k < 200; k++) {
            cache.put(k, cluster(512, k)); // a scan of clusters read once
        }
        for (int k = 0; k < 6; k++) {
            assertTrue(cache.read(k, 0, dst, 0, 1), "cluster " + k + " survived the scan");
            assertEquals((byte) k, dst.get(0));
        }
        assertEquals(8 * 512, cache.weight(), "six in the main segment, two on probation");
        assertFalse(cache.read(100, 0, dst, 0, 1), "the oldest of the scan is gone");
        assertTrue(cache.read(199, 1, dst, 0, 1), "the newest of the scan is still on probation");
        assertEquals((byte) (199 + 1), dst.get(0));
    }

    @Test
    void spansChunksAndCanBeDisabled() {
        int size = 256 * 1024; // four per 1 MiB chunk
        ClusterCache cache = new ClusterCache(12L * size, size); // 3 on probation, 9 in the main segment
        ByteBuffer dst = ByteBuffer.allocate(1);
        for (int k = 0; k < 9; k++) {
            cache.put(k, cluster(size, k));
            assertTrue(cache.read(k, 0, dst, 0, 1));
        }
        for (int k = 0; k < 9; k++) {
            assertTrue(cache.read(k, size - 1, dst, 0, 1));
            assertEquals((byte) (k + size - 1), dst.get(0));
        }
        ClusterCache disabled = new ClusterCache(0, 512);
        disabled.put(1, cluster(512, 0));
        assertFalse(disabled.read(1, 0, dst, 0, 1));
        assertEquals(0, disabled.weight());
    }

    @Test
    void aClusterReadAgainAfterTwoHundredOthersIsStillOnProbation() {
        // As a boot reads a cluster's pieces: 200 other clusters come between its first and second read.
        int size = 64 * 1024;
        ClusterCache cache = new ClusterCache(64L << 20, size);
        ByteBuffer dst = ByteBuffer.allocate(1);
        for (int k = 0; k < 201; k++) {
            cache.put(k, cluster(size, k));
        }
        assertTrue(cache.read(0, 5, dst, 0, 1), "the first of 201 clusters read once is still cached");
        assertEquals((byte) 5, dst.get(0));
        for (int k = 1000; k < 1300; k++) {
            cache.put(k, cluster(size, k));
        }
        assertTrue(cache.read(0, 6, dst, 0, 1), "read twice, it moved to the main segment and stays");
        assertFalse(cache.read(1, 0, dst, 0, 1), "read once, it left probation after 256 others");
    }

    @Test
    void memoryPreparedInTheBackgroundHoldsTheSameBytes() {
        int size = 64 * 1024;
        ClusterCache cache = new ClusterCache(64L << 20, size);
        cache.prepareInBackground();
        ByteBuffer dst = ByteBuffer.allocate(size);
        for (int k = 0; k < 300; k++) {
            cache.put(k, cluster(size, k));
        }
        for (int k = 300 - 256; k < 300; k++) {
            assertTrue(cache.read(k, 0, dst, 0, size), "cluster " + k);
            for (int i = 0; i < size; i += 4099) {
                assertEquals((byte) (k + i), dst.get(i), "cluster " + k + " byte " + i);
            }
        }
        assertEquals(256L * size, cache.weight());
    }
}
