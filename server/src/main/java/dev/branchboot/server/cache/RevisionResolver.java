package dev.branchboot.server.cache;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.server.upstream.UpstreamException;
import dev.branchboot.server.upstream.UpstreamRevision;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Which revision an image name means right now: the upstreams' answer, trusted for
 * {@code branchboot.cache.revalidate-interval} (concurrent look-ups of one name share one
 * {@code HEAD}), or, while no upstream answers, the revision the name last meant, if it is cached.
 *
 * <p>A hot path: every image request asks. What is remembered is the {@link CachedRevision}
 * itself, so a request within the interval costs one map look-up on the calling thread (no hop to
 * another thread, no identity digest); {@link #known} answers without any asynchronous machinery
 * for the event loop's fast path ({@code bench/branch-cpu.sh}).
 */
@BranchMode
@Component
public class RevisionResolver {
    private static final Logger log = LoggerFactory.getLogger(RevisionResolver.class);

    private final UpstreamClient upstreams;
    private final CacheDirectory store;
    private final CacheScrubber scrubber;
    private final SignedManifests manifests;
    private final AsyncCache<String, CachedRevision> current;

    /** Resolves names through {@code upstreams}, falling back to what {@code store} remembers. */
    public RevisionResolver(UpstreamClient upstreams, CacheDirectory store, CacheScrubber scrubber, SignedManifests manifests,
            BranchbootProperties properties) {
        this.upstreams = upstreams;
        this.store = store;
        this.scrubber = scrubber;
        this.manifests = manifests;
        this.current = Caffeine.newBuilder()
                .expireAfterWrite(properties.cache().revalidateInterval())
                .maximumSize(100_000)
                .buildAsync();
    }

    /**
     * The cached revision (created empty when new) that {@code name} means now, checked after an
     * unclean shutdown before it is returned.
     *
     * @return a Mono failing with {@link UpstreamException} when no upstream has the image, or
     *         none answered and nothing of it is cached
     */
    public Mono<CachedRevision> current(String name) {
        CachedRevision remembered = known(name);
        if (remembered != null) {
            return Mono.just(remembered);
        }
        return Mono.fromFuture(() -> current.get(name, (key, executor) -> upstreams.describe(key).flatMap(manifests::sign)
                        .publishOn(FileWork.SCHEDULER)
                        .map(this::cachedRevision)
                        .toFuture()), true)
                .flatMap(revision -> {
                    if (revision.evicted()) {
                        // Evicted while remembered: its files are gone, ask again.
                        invalidate(name);
                        return Mono.fromCallable(() -> cachedRevision(revision.upstream())).subscribeOn(FileWork.SCHEDULER);
                    }
                    if (!revision.onDisk()) {
                        // Made while the cache could not create it: the next request tries again.
                        invalidate(name);
                    }
                    return Mono.just(revision);
                })
                .onErrorResume(e -> e instanceof UpstreamException u && u.retryable(), e -> {
                    Optional<CachedRevision> known = store.lastKnown(name);
                    if (known.isEmpty()) {
                        return Mono.error(e);
                    }
                    log.warn("{} for image '{}' ({}); serving its cached revision {} as it was until the upstreams are asked "
                            + "again", ((UpstreamException) e).kind() == UpstreamException.Kind.INTEGRITY
                                    ? "No upstream offered a revision this branch accepts" : "No upstream answered",
                            name, e.getMessage(), known.get().upstream().etag());
                    // Trusted like an answer for one revalidate interval, so each request does not wait for the retries.
                    current.put(name, CompletableFuture.completedFuture(known.get()));
                    return Mono.just(known.get());
                })
                .flatMap(revision -> revision.verified() ? Mono.just(revision)
                        : Mono.fromCallable(() -> {
                            scrubber.ensureVerified(revision);
                            return revision;
                        }).subscribeOn(FileWork.SCHEDULER));
    }

    /** The cached revision for what the upstream said, checked after an unclean shutdown. Blocking. */
    private CachedRevision cachedRevision(UpstreamRevision upstream) {
        CachedRevision revision = store.revisionFor(upstream);
        scrubber.ensureVerified(revision);
        return revision;
    }

    /**
     * The revision {@code name} means, if that is known now without asking anyone: answered within
     * the revalidate interval, still cached, and checked; else {@code null}. Never blocks.
     */
    public CachedRevision known(String name) {
        CompletableFuture<CachedRevision> future = current.getIfPresent(name);
        if (future == null || !future.isDone() || future.isCompletedExceptionally()) {
            return null;
        }
        CachedRevision revision = future.getNow(null);
        return revision != null && revision.verified() && revision.onDisk() && !revision.evicted() ? revision : null;
    }

    /** Forgets what {@code name} meant, so the next request asks the upstreams again. */
    public void invalidate(String name) {
        current.synchronous().invalidate(name);
    }
}
