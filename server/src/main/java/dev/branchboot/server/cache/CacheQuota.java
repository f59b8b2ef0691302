package dev.branchboot.server.cache;

import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Comparator;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * Keeps the cache under {@code branchboot.cache.quota}: checked every second; while over it, whole
 * revisions are evicted, least recently used first, never one that a response or a replication
 * uses.
 */
@BranchMode
@Component
public class CacheQuota {
    private static final Logger log = LoggerFactory.getLogger(CacheQuota.class);

    private final CacheDirectory directory;
    private final long quota;
    private volatile boolean warned;

    /** The quota of {@code directory}, exported as {@code branchboot_cache_quota_bytes}. */
    public CacheQuota(CacheDirectory directory, BranchbootProperties properties, MeterRegistry registry) {
        this.directory = directory;
        this.quota = properties.cache().quota().toBytes();
        Gauge.builder("branchboot.cache.quota", this, q -> q.quota).baseUnit("bytes")
                .description("The cache's disk quota (0: none)").register(registry);
    }

    /** The quota in bytes, 0 when there is none. */
    public long quota() {
        return quota;
    }

    /** While the cache is over its quota, evicts whole revisions, least recently used first, never one in use. */
    @Scheduled(fixedDelay = 1000, initialDelay = 1000)
    public void enforce() {
        if (quota <= 0) {
            return;
        }
        long cached = directory.cachedBytes();
        while (cached > quota) {
            Optional<CachedRevision> oldest = directory.revisions().stream().filter(r -> !r.inUse())
                    .min(Comparator.comparingLong(CachedRevision::lastUsedMillis));
            if (oldest.isEmpty()) {
                if (!warned) {
                    warned = true;
                    log.warn("Cache holds {} bytes, over its quota of {}, and every revision is in use; "
                            + "raise branchboot.cache.quota or wait for reads to end", cached, quota);
                }
                return;
            }
            directory.evict(oldest.get(), "over the quota of " + quota + " bytes");
            cached = directory.cachedBytes();
        }
        warned = false;
    }
}
