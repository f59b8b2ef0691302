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
    void returnsWhatWasPutAndEvictsTheLeastRecentlyUsed() {
        ClusterCache cache = new ClusterCache(3 * 512, 512);
        for (int k = 0; k < 3; k++) {
            cache.put(k, cluster(512, k * 10));
        }
        ByteBuffer dst = ByteBuffer.allocateDirect(20);
        assertTrue(cache.read(0, 100, dst, 4, 16), "cluster 0 is cached (and now recently used)");
        for (int i = 0; i < 16; i++) {
            assertEquals((byte) (100 + i), dst.get(4 + i));
        }
        cache.put(3, cluster(512, 30));
        assertFalse(cache.read(1, 0, dst, 0, 1), "cluster 1 was the least recently used");
        assertTrue(cache.read(0, 0, dst, 0, 1));
        assertTrue(cache.read(2, 0, dst, 0, 1));
        assertTrue(cache.read(3, 511, dst, 0, 1));
        assertEquals((byte) (30 + 511), dst.get(0), "the evicted slot holds the new cluster");
        assertEquals(3 * 512, cache.weight());
    }

    @Test
    void spansChunksAndCanBeDisabled() {
        int size = 256 * 1024; // four per 1 MiB chunk
        ClusterCache cache = new ClusterCache(10L * size, size);
        for (int k = 0; k < 10; k++) {
            cache.put(k, cluster(size, k));
        }
        ByteBuffer dst = ByteBuffer.allocate(1);
        for (int k = 0; k < 10; k++) {
            assertTrue(cache.read(k, size - 1, dst, 0, 1));
            assertEquals((byte) (k + size - 1), dst.get(0));
        }
        ClusterCache disabled = new ClusterCache(0, 512);
        disabled.put(1, cluster(512, 0));
        assertFalse(disabled.read(1, 0, dst, 0, 1));
        assertEquals(0, disabled.weight());
    }
}
