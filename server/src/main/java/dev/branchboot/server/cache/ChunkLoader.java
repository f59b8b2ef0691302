package dev.branchboot.server.cache;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.upstream.UpstreamClient;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Fills missing chunks from the upstreams with single flight: however many requests miss the same
 * chunk of the same revision at once, one upstream fetch runs and all of them get its bytes. The
 * in-flight fetches live in a Caffeine {@link AsyncCache} keyed by revision and chunk; an entry
 * leaves it as soon as its fetch ends (a failed one at once, so the next reader tries again).
 *
 * <p>The fetched bytes are handed to the waiting readers directly, so a chunk that cannot be
 * written (cache disk full or failing) is still served: the cache degrades to pass-through and says
 * so in the log and in {@code branchboot_cache_store_failures_total}.
 */
@BranchMode
@Component
public class ChunkLoader {
    private static final Logger log = LoggerFactory.getLogger(ChunkLoader.class);

    private record ChunkKey(String revision, int chunk) {
    }

    private final AsyncCache<ChunkKey, byte[]> inFlight = Caffeine.newBuilder().buildAsync();
    private final UpstreamClient upstreams;
    private final ChunkStore store;
    private final Counter fetches;
    private final Counter joins;
    /** When a store failure was last logged at WARN: a full disk fails every chunk, the log needs it once in a while. */
    private final java.util.concurrent.atomic.AtomicLong lastStoreWarning = new java.util.concurrent.atomic.AtomicLong();

    /** Fills chunks of {@code store} from {@code upstreams}. */
    public ChunkLoader(UpstreamClient upstreams, ChunkStore store, MeterRegistry registry) {
        this.upstreams = upstreams;
        this.store = store;
        this.fetches = Counter.builder("branchboot.cache.fills")
                .description("Chunk fetches started from an upstream").register(registry);
        this.joins = Counter.builder("branchboot.cache.singleflight.joins")
                .description("Chunk misses that joined a fetch already in flight instead of starting one")
                .register(registry);
    }

    /**
     * The bytes of chunk {@code chunk} of {@code revision}, fetched from an upstream (or joined to
     * the fetch already running) and stored in the cache on the way.
     */
    public Mono<byte[]> load(CachedRevision revision, int chunk) {
        return Mono.defer(() -> {
            AtomicBoolean started = new AtomicBoolean();
            ChunkKey key = new ChunkKey(revision.id(), chunk);
            CompletableFuture<byte[]> future = inFlight.get(key, (k, executor) -> {
                started.set(true);
                return fill(revision, chunk).toFuture();
            });
            if (started.get()) {
                fetches.increment();
                // Only in flight while in flight: a finished fetch's bytes are in the file now.
                future.whenComplete((bytes, error) -> inFlight.asMap().remove(key, future));
            } else {
                joins.increment();
            }
            return Mono.fromFuture(future, true);
        });
    }

    private Mono<byte[]> fill(CachedRevision revision, int chunk) {
        if (revision.isPresent(chunk)) {
            // Stored by a fetch that ended between the caller's presence check and this one.
            return Mono.fromCallable(() -> revision.read(chunk)).subscribeOn(Schedulers.boundedElastic());
        }
        return upstreams.fetch(revision.upstream(), revision.chunkOffset(chunk), revision.chunkLength(chunk))
                .publishOn(Schedulers.boundedElastic())
                .map(bytes -> {
                    try {
                        revision.store(chunk, bytes);
                    } catch (IOException | RuntimeException e) {
                        store.recordStoreFailure();
                        long now = System.nanoTime();
                        long last = lastStoreWarning.get();
                        boolean warn = last == 0 || now - last > 10_000_000_000L;
                        if (warn && lastStoreWarning.compareAndSet(last, now)) {
                            log.warn("Cannot store chunk {} (bytes {}-{}) of image '{}' revision {} in the cache: {}; "
                                    + "serving it pass-through from the upstream. Is the cache disk full?", chunk,
                                    revision.chunkOffset(chunk), revision.chunkOffset(chunk) + bytes.length - 1,
                                    revision.upstream().name(), revision.upstream().etag(), e.toString()
                                    + " (further failures in the next 10 s are logged at debug; see branchboot_cache_store_failures_total)");
                        } else {
                            log.debug("Cannot store chunk {} of image '{}': {}", chunk, revision.upstream().name(), e.toString());
                        }
                    }
                    return bytes;
                });
    }
}
