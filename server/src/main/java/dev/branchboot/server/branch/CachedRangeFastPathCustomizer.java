package dev.branchboot.server.branch;

import dev.branchboot.server.cache.RevisionResolver;
import dev.branchboot.server.cache.SignedManifests;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.metrics.ImageRequestMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.stereotype.Component;
import reactor.netty.NettyPipeline;
import reactor.netty.http.server.HttpServer;

/**
 * Puts a {@link CachedRangeFastPath} in front of Reactor Netty's HTTP/1.1 handling on every
 * connection of a branch, unless {@code branchboot.cache.event-loop-hits=false}.
 */
@BranchMode
@Component
public class CachedRangeFastPathCustomizer implements NettyServerCustomizer {
    private static final Logger log = LoggerFactory.getLogger(CachedRangeFastPathCustomizer.class);
    private static final String NAME = "branchboot.cachedRangeFastPath";

    private final CachedRangeFastPath.Shared shared;
    private final boolean enabled;

    /** The fast path of a branch whose revisions {@code resolver} knows. */
    public CachedRangeFastPathCustomizer(RevisionResolver resolver, SignedManifests manifests, BranchbootProperties properties,
            ImageRequestMetrics requests, MeterRegistry registry) {
        this.enabled = properties.cache().eventLoopHits();
        this.shared = CachedRangeFastPath.Shared.of(resolver, manifests.enabled(), properties.replication().onFirstRead(),
                properties.maxRanges(), requests, registry);
        if (!enabled) {
            log.info("Cached ranges are answered through WebFlux only (branchboot.cache.event-loop-hits=false)");
        }
    }

    @Override
    public HttpServer apply(HttpServer server) {
        if (!enabled) {
            return server;
        }
        return server.doOnChannelInit((observer, channel, remoteAddress) -> {
            var pipeline = channel.pipeline();
            if (pipeline.get(NettyPipeline.HttpCodec) == null) {
                return; // not HTTP/1.1
            }
            if (pipeline.get(NettyPipeline.HttpTrafficHandler) != null) {
                pipeline.addBefore(NettyPipeline.HttpTrafficHandler, NAME, new CachedRangeFastPath(shared));
            } else {
                pipeline.addAfter(NettyPipeline.HttpCodec, NAME, new CachedRangeFastPath(shared));
            }
        });
    }
}
