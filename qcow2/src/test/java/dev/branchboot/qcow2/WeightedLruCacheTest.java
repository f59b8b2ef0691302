package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class WeightedLruCacheTest {

    @Test
    void evictsTheLeastRecentlyUsedToStayWithinTheBound() {
        WeightedLruCache<Integer, byte[]> cache = new WeightedLruCache<>(300, b -> b.length);
        cache.put(1, new byte[100]);
        cache.put(2, new byte[100]);
        cache.put(3, new byte[100]);
        assertNotNull(cache.get(1));
        cache.put(4, new byte[100]);
        assertNull(cache.get(2), "2 was least recently used");
        assertNotNull(cache.get(1));
        assertNotNull(cache.get(3));
        assertNotNull(cache.get(4));
        assertEquals(300, cache.weight());
    }

    @Test
    void replacingAKeyKeepsTheWeightRightAndOversizedValuesAreNotCached() {
        WeightedLruCache<Integer, byte[]> cache = new WeightedLruCache<>(250, b -> b.length);
        cache.put(1, new byte[100]);
        cache.put(1, new byte[50]);
        assertEquals(50, cache.weight());
        cache.put(2, new byte[251]);
        assertNull(cache.get(2));
        assertEquals(50, cache.weight());
        WeightedLruCache<Integer, byte[]> disabled = new WeightedLruCache<>(0, b -> b.length);
        disabled.put(1, new byte[1]);
        assertNull(disabled.get(1));
    }
}
