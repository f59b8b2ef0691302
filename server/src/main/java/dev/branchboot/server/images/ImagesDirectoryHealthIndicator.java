package dev.branchboot.server.images;

import dev.branchboot.server.config.OriginMode;
import org.springframework.boot.health.contributor.AbstractHealthIndicator;
import org.springframework.boot.health.contributor.Health;
import org.springframework.stereotype.Component;

/**
 * Health of the images directory ({@code imagesDirectory}, part of the readiness group): down when
 * it is no longer a readable directory, as when an NFS mount went away, so a load balancer stops
 * sending clients to a server that can only answer 404.
 */
@OriginMode
@Component("imagesDirectory")
public class ImagesDirectoryHealthIndicator extends AbstractHealthIndicator {
    private final ImageStore store;

    /** Watches the root of {@code store}. */
    public ImagesDirectoryHealthIndicator(ImageStore store) {
        super("images directory check failed");
        this.store = store;
    }

    @Override
    protected void doHealthCheck(Health.Builder builder) {
        builder.withDetail("path", store.root().toString());
        if (store.rootReadable()) {
            builder.up();
        } else {
            builder.down().withDetail("error", "not a readable directory (unmounted or removed?)");
        }
    }
}
