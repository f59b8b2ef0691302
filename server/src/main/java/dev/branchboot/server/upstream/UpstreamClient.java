package dev.branchboot.server.upstream;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.util.DisplayUrl;
import dev.branchboot.server.util.RateLimitedLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.channel.ChannelOption;
import io.netty.handler.timeout.ReadTimeoutException;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.PrematureCloseException;
import reactor.util.retry.Retry;

/**
 * The branch cache's only way to its upstreams: describes an image's current revision and fetches
 * byte ranges of one revision, trying the configured upstreams in order ({@link HttpUpstream},
 * {@link FileUpstream}) and retrying with exponential backoff; bytes that fail a caller's check
 * count as that upstream's fault. Counts bytes, errors by kind and fetch latency per upstream, and
 * remembers for a few seconds which names no upstream has.
 */
@BranchMode
@Component
public class UpstreamClient {
    private static final Logger log = LoggerFactory.getLogger(UpstreamClient.class);
    /** How long a name no upstream has is remembered as missing: an image published under it appears within this. */
    public static final Duration NOT_FOUND_TTL = Duration.ofSeconds(5);
    private static final int NOT_FOUND_NAMES = 10_000;

    private final List<Upstream> upstreams;
    private final List<URI> uris;
    private final HttpClient http;
    private final int attempts;
    private final Duration backoff;
    private final MeterRegistry registry;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<String, Timer> latencies = new ConcurrentHashMap<>();
    /**
     * Failed attempts, per upstream: an upstream that is down or lies fails every request that reaches it,
     * so each says so once per 10 s (with the count of the rest) and one upstream's failures never hide
     * another's.
     */
    private final Map<URI, RateLimitedLog> failures;
    /**
     * Names no upstream had, with that answer, for {@link #NOT_FOUND_TTL} (or the revalidate interval
     * if shorter): a request for a name that does not exist would otherwise cost a HEAD at every
     * upstream, at whatever rate a client sends them. Bounded, so that a flood of distinct names
     * cannot grow it without end.
     */
    private final Cache<String, UpstreamException> notFound;
    private final Counter notFoundHits;

    /** A client of {@code branchboot.upstreams} with the cache's timeout and retry settings. */
    public UpstreamClient(BranchbootProperties properties, MeterRegistry registry) {
        this.uris = List.copyOf(properties.upstreams());
        this.attempts = properties.cache().fetchAttempts();
        this.backoff = properties.cache().retryBackoff();
        this.registry = registry;
        Duration timeout = properties.cache().upstreamTimeout();
        this.http = HttpClient.create()
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
                .responseTimeout(timeout)
                // Images are compressed already; a decompressing hop would also change lengths.
                .compress(false);
        this.upstreams = uris.stream().map(uri -> Upstream.of(uri, http)).toList();
        this.failures = uris.stream().distinct().collect(java.util.stream.Collectors.toUnmodifiableMap(uri -> uri,
                uri -> RateLimitedLog.every10Seconds(log)));
        Duration revalidate = properties.cache().revalidateInterval();
        this.notFound = Caffeine.newBuilder()
                .expireAfterWrite(revalidate.compareTo(NOT_FOUND_TTL) < 0 ? revalidate : NOT_FOUND_TTL)
                .maximumSize(NOT_FOUND_NAMES)
                .build();
        this.notFoundHits = Counter.builder("branchboot.upstream.not.found.cache.hits")
                .description("Look-ups of a name no upstream had a moment ago, answered 'not found' without asking them")
                .register(registry);
        log.info("Branch cache upstreams, in order of preference: {}", uris.stream().map(DisplayUrl::of).toList());
    }

    /** The configured upstream base URLs, in order. */
    public List<URI> upstreams() {
        return uris;
    }

    /**
     * The current revision of image {@code name} at the first upstream that has it. That no upstream
     * has it is remembered for {@link #NOT_FOUND_TTL} (or the revalidate interval if shorter) and
     * answered without asking them again meanwhile (counted in
     * {@code branchboot_upstream_not_found_cache_hits_total}).
     *
     * @return a Mono failing with {@link UpstreamException} of kind {@code NOT_FOUND} when no
     *         upstream has it, or the last failure when none answered
     */
    public Mono<UpstreamRevision> describe(String name) {
        return Mono.defer(() -> {
            UpstreamException missing = notFound.getIfPresent(name);
            if (missing != null) {
                notFoundHits.increment();
                return Mono.error(missing.repeated());
            }
            return withFailover("HEAD of image '" + name + "'", upstream -> upstream.describe(name))
                    .doOnError(UpstreamException.class, e -> {
                        if (e.kind() == UpstreamException.Kind.NOT_FOUND) {
                            notFound.put(name, e.repeated());
                        }
                    });
        });
    }

    /**
     * Exactly {@code length} bytes of {@code revision} from offset {@code first}, from the first
     * upstream that still has that revision.
     */
    public Mono<byte[]> fetch(UpstreamRevision revision, long first, int length) {
        return fetch(revision, first, length, null);
    }

    /** Checks fetched bytes before anyone may use them. */
    @FunctionalInterface
    public interface BytesCheck {
        /**
         * Checks that {@code bytes} are the revision's bytes at {@code first}; called off the event
         * loop (it may read a page of a manifest).
         *
         * @return {@code null} when they are, else why not (the upstream then counts as faulty)
         */
        String problem(long first, byte[] bytes) throws IOException;
    }

    /**
     * As {@link #fetch(UpstreamRevision, long, int)}, but only bytes that pass {@code check} are
     * returned: bytes that fail it are that upstream's fault ({@link UpstreamException.Kind#INTEGRITY}),
     * so the next upstream is tried, then the retries.
     */
    public Mono<byte[]> fetch(UpstreamRevision revision, long first, int length, BytesCheck check) {
        String what = revision.describeRange(first, length);
        return withFailover(what, upstream -> {
            long start = System.nanoTime();
            Mono<byte[]> fetch = upstream.fetch(revision, first, length);
            if (check != null) {
                fetch = fetch.publishOn(Schedulers.boundedElastic()).handle((bytes, sink) -> {
                    String problem;
                    try {
                        problem = check.problem(first, bytes);
                    } catch (IOException e) {
                        problem = "cannot check them: " + e.getMessage();
                    }
                    if (problem == null) {
                        sink.next(bytes);
                    } else {
                        sink.error(new UpstreamException(UpstreamException.Kind.INTEGRITY, upstream.uri(), what + ": " + problem, null));
                    }
                });
            }
            return fetch.doOnNext(bytes -> {
                latency(upstream.uri()).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                counter("branchboot.upstream", upstream.uri(), null).increment(bytes.length);
            });
        });
    }

    /**
     * The name of {@code revision}'s own file relative to the upstream folder: its
     * {@code Content-Location} (a branchboot origin names the file a symlinked name points to), or
     * the name itself.
     */
    public String revisionName(UpstreamRevision revision) {
        for (Upstream upstream : upstreams) {
            if (upstream.uri().equals(revision.upstream())) {
                return upstream.revisionName(revision);
            }
        }
        return revision.name();
    }

    /** {@code call} on each upstream in turn, then retried; {@code what} names the request in the failures made here. */
    private <T> Mono<T> withFailover(String what, Function<Upstream, Mono<T>> call) {
        return Mono.defer(() -> tryFrom(0, what, call, null))
                .retryWhen(Retry.backoff(attempts - 1, backoff)
                        .filter(e -> e instanceof UpstreamException u && u.retryable())
                        // Each failed attempt was logged (rate-limited) where it failed; a line per retry would flood.
                        .doBeforeRetry(signal -> log.debug("Retrying after upstream failure (retry {} of {}): {}",
                                signal.totalRetries() + 1, attempts - 1, signal.failure().getMessage()))
                        .onRetryExhaustedThrow((spec, signal) -> signal.failure()));
    }

    private <T> Mono<T> tryFrom(int index, String what, Function<Upstream, Mono<T>> call, UpstreamException previous) {
        if (index >= upstreams.size()) {
            return Mono.error(previous);
        }
        Upstream upstream = upstreams.get(index);
        return Mono.defer(() -> call.apply(upstream)).onErrorResume(e -> {
            UpstreamException failure = classify(upstream.uri(), what, e);
            counter("branchboot.upstream.errors", upstream.uri(), failure.kind()).increment();
            if (failure.retryable()) {
                failures.get(upstream.uri()).warn("{}", failure.getMessage());
            } else {
                log.debug("{}", failure.getMessage());
            }
            // A transient fault anywhere keeps the whole attempt retryable: the image may be behind it.
            UpstreamException kept = previous != null && previous.retryable() && !failure.retryable() ? previous : failure;
            return tryFrom(index + 1, what, call, kept);
        });
    }

    private static UpstreamException classify(URI upstream, String what, Throwable e) {
        if (e instanceof UpstreamException u) {
            return u;
        }
        if (e instanceof PrematureCloseException) {
            return new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream,
                    what + ": the upstream closed the connection before the whole body arrived", e);
        }
        if (e instanceof ReadTimeoutException || e instanceof TimeoutException) {
            return new UpstreamException(UpstreamException.Kind.TIMEOUT, upstream, what + ": the upstream did not answer in time", e);
        }
        return new UpstreamException(UpstreamException.Kind.CONNECT, upstream, what + ": upstream unreachable: " + e, e);
    }

    private Counter counter(String name, URI upstream, UpstreamException.Kind kind) {
        String key = name + ' ' + upstream + ' ' + kind;
        return counters.computeIfAbsent(key, k -> {
            Counter.Builder builder = Counter.builder(name).tag("upstream", DisplayUrl.of(upstream));
            if (kind != null) {
                builder.tag("kind", kind.name().toLowerCase(java.util.Locale.ROOT)).description("Failed upstream requests by kind");
            } else {
                builder.baseUnit("bytes").description("Bytes fetched from the upstream into the cache");
            }
            return builder.register(registry);
        });
    }

    private Timer latency(URI upstream) {
        return latencies.computeIfAbsent(DisplayUrl.of(upstream), u -> Timer.builder("branchboot.upstream.fetch.latency")
                .description("Time to fetch one chunk from the upstream, retries excluded")
                .tag("upstream", u).publishPercentileHistogram().register(registry));
    }

}
