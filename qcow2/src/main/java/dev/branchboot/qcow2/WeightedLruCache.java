package dev.branchboot.qcow2;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * A small least-recently-used cache bounded by the total weight (bytes) of its values.
 *
 * <p>Hand-written rather than Caffeine because this library runs inside the client agent in an
 * initramfs, often under emulation: Caffeine's start-up (generated classes, method handles) cost
 * about 90 ms on the host before the first read, many times that in a guest, while the accesses
 * here are few and cheap enough for one lock.
 */
final class WeightedLruCache<K, V> {
    private final long maxWeight;
    private final ToIntFunction<V> weigher;
    private final LinkedHashMap<K, V> entries = new LinkedHashMap<>(64, 0.75f, true);
    private long weight;

    WeightedLruCache(long maxWeight, ToIntFunction<V> weigher) {
        this.maxWeight = maxWeight;
        this.weigher = weigher;
    }

    /** The cached value, marked as recently used, or {@code null}. */
    synchronized V get(K key) {
        return entries.get(key);
    }

    /** Caches {@code value} unless it alone outweighs the bound, evicting the least recently used. */
    synchronized void put(K key, V value) {
        int w = weigher.applyAsInt(value);
        if (w > maxWeight) {
            return;
        }
        V old = entries.put(key, value);
        if (old != null) {
            weight -= weigher.applyAsInt(old);
        }
        weight += w;
        Iterator<Map.Entry<K, V>> eldest = entries.entrySet().iterator();
        while (weight > maxWeight && eldest.hasNext()) {
            Map.Entry<K, V> e = eldest.next();
            weight -= weigher.applyAsInt(e.getValue());
            eldest.remove();
        }
    }

    /** The total weight cached now. */
    synchronized long weight() {
        return weight;
    }
}
