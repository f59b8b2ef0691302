package dev.branchboot.server.cache;

import dev.branchboot.server.config.BranchMode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.stereotype.Component;

/**
 * The branch cache's event counters, exported at {@code /actuator/prometheus}. (The gauges of what
 * the cache holds are registered by {@link CacheDirectory} and {@link CacheQuota}, which own the
 * figures.)
 */
@BranchMode
@Component
public class CacheMetrics {
    final Counter fetches;
    final Counter fetchedBytes;
    final Counter joins;
    final Counter checksumFailures;
    final Counter storeFailures;
    final Counter evictions;

    /** Registers the counters in {@code registry}. */
    public CacheMetrics(MeterRegistry registry) {
        this.fetches = Counter.builder("branchboot.cache.fills")
                .description("Upstream fetches started to fill the cache (each a span of missing blocks)").register(registry);
        this.fetchedBytes = Counter.builder("branchboot.cache.fill").baseUnit("bytes")
                .description("Bytes the cache's fetches asked the upstreams for").register(registry);
        this.joins = Counter.builder("branchboot.cache.singleflight.joins")
                .description("Reads that joined a fetch already in flight for their bytes instead of starting one")
                .register(registry);
        this.checksumFailures = Counter.builder("branchboot.cache.checksum.failures")
                .description("Cached blocks whose bytes no longer matched their checksum (dropped and fetched again)")
                .register(registry);
        this.storeFailures = Counter.builder("branchboot.cache.store.failures")
                .description("Fetched spans that could not be written to the cache disk (served pass-through)")
                .register(registry);
        this.evictions = Counter.builder("branchboot.cache.evictions")
                .description("Whole image revisions removed from the cache (quota or admin)").register(registry);
    }
}
