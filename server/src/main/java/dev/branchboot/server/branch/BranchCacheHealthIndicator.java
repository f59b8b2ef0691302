package dev.branchboot.server.branch;

import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.config.BranchMode;
import org.springframework.boot.health.contributor.AbstractHealthIndicator;
import org.springframework.boot.health.contributor.Health;
import org.springframework.stereotype.Component;

/**
 * Health of the branch cache ({@code branchCache}, part of readiness): its directory, the bytes
 * it holds, and down when the directory is no longer writable (then nothing new can be cached).
 */
@BranchMode
@Component("branchCache")
public class BranchCacheHealthIndicator extends AbstractHealthIndicator {
    private final CacheDirectory store;

    /** Watches {@code store}. */
    public BranchCacheHealthIndicator(CacheDirectory store) {
        super("branch cache check failed");
        this.store = store;
    }

    @Override
    protected void doHealthCheck(Health.Builder builder) {
        builder.withDetail("path", store.root().toString()).withDetail("cachedBytes", store.cachedBytes());
        if (java.nio.file.Files.isWritable(store.root())) {
            builder.up();
        } else {
            builder.down().withDetail("error", "cache directory not writable");
        }
    }
}
