package dev.branchboot.server.branch;

import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.cache.CacheFiller;
import dev.branchboot.server.cache.CacheScrubber;
import dev.branchboot.server.cache.CachedBytesCorruptedException;
import dev.branchboot.server.cache.FileWork;
import dev.branchboot.server.cache.SignedManifests;
import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.RevisionResolver;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.http.ByteRange;
import dev.branchboot.server.http.HttpDates;
import dev.branchboot.server.http.ImageFile;
import dev.branchboot.server.http.MultipartByteRanges;
import dev.branchboot.server.http.Problems;
import dev.branchboot.server.http.RangeResponder;
import dev.branchboot.server.images.ImageNameException;
import dev.branchboot.server.images.ImageNotFoundException;
import dev.branchboot.server.images.ImagePathHandlerMapping;
import dev.branchboot.server.images.ImageStore;
import dev.branchboot.server.metrics.ImageRequestMetrics;
import dev.branchboot.server.replication.Replicator;
import dev.branchboot.server.upstream.UpstreamException;
import dev.branchboot.server.util.PrintableText;
import dev.branchboot.server.util.RateLimitedLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.time.Instant;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ZeroCopyHttpOutputMessage;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebHandler;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code GET} and {@code HEAD /images/{name}} in branch-cache mode: the origin's API (the same
 * conditional and range semantics, reused from origin mode) answered from the block cache.
 * The body streams in order, cached runs read from the data file and checked against their
 * checksums ({@link CacheFiller#bytes}) and missing blocks as their fetches arrive (planned by the
 * {@link CacheFiller}, a few fetch-sizes ahead for a long range), so a client waits only for the
 * bytes its range touches, the uplink carries only what is missing, and no byte a disk changed is
 * sent.
 *
 * <p>The upstream's ETag, Last-Modified and Content-Location are passed through, so clients can
 * fail over between branches and the origin. A request whose {@code If-Match} names an older
 * revision that is still cached is served from that revision: a client pinned to it keeps getting
 * its bytes after the image was republished.
 */
@BranchMode
@Component
public class BranchImageWebHandler implements WebHandler {
    private static final Logger log = LoggerFactory.getLogger(BranchImageWebHandler.class);

    private final RevisionResolver resolver;
    private final CacheDirectory store;
    private final CacheScrubber scrubber;
    private final CacheFiller filler;
    private final int maxRanges;
    private final int readAhead;
    private final Replicator replicator;
    private final boolean replicateOnFirstRead;
    private final Counter hitRequests;
    private final Counter missRequests;
    private final Counter hitBytes;
    private final Counter missBytes;
    private final Counter checksumFailures;
    private final boolean signed;
    private final RateLimitedLog corruptionWarnings = RateLimitedLog.every10Seconds(log);
    // A lasting fault (an upstream down, an unsigned image, a full disk) fails every request that runs into
    // it: one line per 10 s per kind of failure, the count of the rest with the next.
    private final RateLimitedLog unservable = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog failedMidResponse = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog uncachable = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog sendFailures = RateLimitedLog.every10Seconds(log);

    /** Serves images through the cache of {@code store}, filled by {@code filler}. */
    public BranchImageWebHandler(RevisionResolver resolver, CacheDirectory store, CacheScrubber scrubber, CacheFiller filler,
            BranchbootProperties properties, MeterRegistry registry, Replicator replicator, SignedManifests manifests) {
        this.resolver = resolver;
        this.signed = manifests.enabled();
        this.checksumFailures = Counter.builder("branchboot.cache.checksum.failures").register(registry);
        this.replicator = replicator;
        this.replicateOnFirstRead = properties.replication().onFirstRead();
        this.store = store;
        this.scrubber = scrubber;
        this.filler = filler;
        this.maxRanges = properties.maxRanges();
        this.readAhead = properties.cache().readAhead();
        this.hitRequests = Counter.builder("branchboot.cache.requests").tag("result", "hit")
                .description("Image body requests whose bytes were all cached (hit) or not (miss)").register(registry);
        this.missRequests = Counter.builder("branchboot.cache.requests").tag("result", "miss")
                .description("Image body requests whose bytes were all cached (hit) or not (miss)").register(registry);
        this.hitBytes = Counter.builder("branchboot.cache.served").tag("result", "hit").baseUnit("bytes")
                .description("Body bytes sent from the cache (hit) or that had to be fetched (miss)").register(registry);
        this.missBytes = Counter.builder("branchboot.cache.served").tag("result", "miss").baseUnit("bytes")
                .description("Body bytes sent from the cache (hit) or that had to be fetched (miss)").register(registry);
    }

    @Override
    public Mono<Void> handle(ServerWebExchange exchange) {
        ServerHttpRequest request = exchange.getRequest();
        ServerHttpResponse response = exchange.getResponse();
        response.getHeaders().set(HttpHeaders.DATE, HttpDates.now());
        if (!Problems.readsImage(request.getMethod())) {
            return Problems.methodNotAllowed(exchange);
        }
        String name;
        try {
            name = ImageStore.decodeName(request.getPath().pathWithinApplication().value().substring(ImagePathHandlerMapping.PREFIX.length()));
        } catch (ImageNameException e) {
            return Problems.send(exchange, HttpStatus.BAD_REQUEST, e.getMessage());
        } catch (ImageNotFoundException e) {
            return Problems.noSuchImage(exchange, e.imageName());
        }
        return resolver.current(name)
                .map(current -> pinned(request.getHeaders(), name, current))
                .flatMap(revision -> {
                    if (replicateOnFirstRead && replicator.status(name) == null
                            && !revision.complete()) {
                        replicator.start(name, "the first read");
                    }
                    if (!revision.acquire()) {
                        return Problems.send(exchange, HttpStatus.SERVICE_UNAVAILABLE, "image '"
                                + PrintableText.of(name) + "' was just evicted; try again");
                    }
                    return serve(exchange, name, revision)
                            .onErrorResume(e -> isGone(e) && !response.isCommitted() && pinnedTo(request.getHeaders(), revision),
                                    e -> revisionGone(exchange, name, revision, (UpstreamException) e))
                            .doFinally(signal -> revision.release());
                })
                .onErrorResume(UpstreamException.class, e -> {
                    if (e.kind() == UpstreamException.Kind.REVISION_GONE) {
                        // The upstream moved on: the next request asks which revision the name means now.
                        resolver.invalidate(name);
                    }
                    if (response.isCommitted()) {
                        // Mid-body: the connection is cut, so the client sees a short body, never a wrong one.
                        failedMidResponse.warn("Image '{}' failed mid-response: {}", name, e.getMessage());
                        return Mono.error(e);
                    }
                    if (e.kind() == UpstreamException.Kind.NOT_FOUND) {
                        log.debug("{}", e.getMessage());
                        return Problems.send(exchange, HttpStatus.NOT_FOUND, "no image named '"
                                + PrintableText.of(name) + "' upstream");
                    }
                    unservable.warn("Image '{}' cannot be served: {}", name, e.getMessage());
                    if (e.kind() == UpstreamException.Kind.INTEGRITY) {
                        return Problems.send(exchange, HttpStatus.BAD_GATEWAY, "image '" + PrintableText.of(name)
                                + "' has no manifest this branch accepts (branchboot.trust-key): unsigned, signed by another "
                                + "key or for another image, older than a revision already accepted, or its bytes did not "
                                + "match; the branch's log says which");
                    }
                    return Problems.send(exchange, HttpStatus.BAD_GATEWAY, "image '" + PrintableText.of(name)
                            + "' is not cached and no upstream served it");
                })
                .onErrorResume(java.io.UncheckedIOException.class, e -> {
                    // The cache could not even create the revision's files (disk full, read-only, gone).
                    uncachable.warn("Image '{}' cannot be cached: {}: {}", name, e.getMessage(), String.valueOf(e.getCause()));
                    return response.isCommitted() ? Mono.error(e) : Problems.send(exchange, HttpStatus.SERVICE_UNAVAILABLE,
                            "the branch cache cannot store image '" + PrintableText.of(name) + "' now");
                });
    }

    private static boolean isGone(Throwable e) {
        return e instanceof UpstreamException u && u.kind() == UpstreamException.Kind.REVISION_GONE;
    }

    /** Whether the request's If-Match names {@code revision}: the client pinned it (an agent does). */
    private static boolean pinnedTo(HttpHeaders headers, CachedRevision revision) {
        List<String> ifMatch = headers.get(HttpHeaders.IF_MATCH);
        return ifMatch != null && ifMatch.stream().flatMap(value -> java.util.Arrays.stream(value.split(",")))
                .anyMatch(tag -> tag.strip().equals(revision.upstream().etag()));
    }

    /**
     * The answer to a client pinned to a revision that no upstream has any more (republished, and its
     * file removed) and that is not all cached: 412, as its If-Match asked, saying so; not 404 (the
     * name still has an image) nor 502 (no upstream is at fault).
     */
    private Mono<Void> revisionGone(ServerWebExchange exchange, String name, CachedRevision revision, UpstreamException e) {
        resolver.invalidate(name);
        unservable.warn("Image '{}' cannot be served to a reader pinned to it: {}", name, e.getMessage());
        return Problems.send(exchange, HttpStatus.PRECONDITION_FAILED, "revision " + revision.upstream().etag() + " of image '"
                + PrintableText.of(name) + "' is no longer on any upstream; open the image again for its current revision");
    }

    /** With a trust key: whether a block of the range has not been checked against the signed manifest yet. */
    private boolean signedUnchecked(CachedRevision revision, long first, long last) {
        return signed && revision.upstream().signedContent() != null && !revision.allVouchedFor(first, last);
    }

    /** The older cached revision an If-Match names, when it does not name the current one. */
    private CachedRevision pinned(HttpHeaders headers, String name, CachedRevision current) {
        List<String> ifMatch = headers.get(HttpHeaders.IF_MATCH);
        if (ifMatch == null) {
            return current;
        }
        for (String value : ifMatch) {
            for (String tag : value.split(",")) {
                String etag = tag.strip();
                if (etag.equals(current.upstream().etag()) || etag.equals("*")) {
                    return current;
                }
                if (etag.startsWith("\"")) {
                    var older = store.find(name, etag);
                    if (older.isPresent()) {
                        scrubber.ensureVerified(older.get());
                        return older.get();
                    }
                }
            }
        }
        return current;
    }

    private Mono<Void> serve(ServerWebExchange exchange, String name, CachedRevision revision) {
        ServerHttpResponse response = exchange.getResponse();
        var upstream = revision.upstream();
        // The revision seen through the origin API's types, so its precondition and range rules apply unchanged.
        ImageFile file = new ImageFile(name, name, revision.dataFile(), upstream.size(),
                upstream.lastModified() != null ? upstream.lastModified() : Instant.EPOCH, upstream.etag());
        return RangeResponder.respond(exchange, file, upstream.contentLocation(), maxRanges, new RangeResponder.BodySender() {
            @Override
            public Mono<Void> send(HttpStatus status, long position, long count) {
                return sendRegion(exchange, revision, status, position, count);
            }

            @Override
            public Mono<Void> multipart(MultipartByteRanges multipart, List<ByteRange> ranges) {
                DataBufferFactory factory = response.bufferFactory();
                boolean hit = true;
                for (ByteRange part : ranges) {
                    hit &= revision.allPresent(part.first(), part.last());
                }
                (hit ? hitRequests : missRequests).increment();
                return response.writeWith(multipart.body(factory, part -> region(revision, part.first(), part.last(), factory)))
                        .doOnError(e -> logSendFailure(revision, ranges.toString(), e));
            }
        });
    }

    private Mono<Void> sendRegion(ServerWebExchange exchange, CachedRevision revision, HttpStatus status, long position,
            long count) {
        ServerHttpResponse response = exchange.getResponse();
        response.setStatusCode(status);
        response.getHeaders().setContentType(MediaType.APPLICATION_OCTET_STREAM);
        response.getHeaders().setContentLength(count);
        if (exchange.getRequest().getMethod() == HttpMethod.HEAD || count == 0) {
            return response.setComplete();
        }
        ImageRequestMetrics.recordBodyBytes(exchange, count);
        long last = position + count - 1;
        String range = position + "-" + last;
        boolean present = revision.allPresent(position, last);
        (present ? hitRequests : missRequests).increment();
        if (present && count > CachedRangeFastPath.MAX_BODY && !signedUnchecked(revision, position, last)
                && response instanceof ZeroCopyHttpOutputMessage zeroCopy) {
            // A long cached range: checked a MiB at a time, then sent from the file with sendfile (the pages it
            // just checked), instead of through buffers of ours. Blocks that fail go through region(), fetched again.
            hitBytes.increment(count);
            return Mono.fromCallable(() -> {
                        revision.verifyPresent(position, last);
                        return true;
                    })
                    .subscribeOn(FileWork.SCHEDULER)
                    .onErrorResume(CachedBytesCorruptedException.class, e -> {
                        checksumFailures.increment(e.offsets().length);
                        corruptionWarnings.warn("{} (see branchboot_cache_checksum_failures_total). Check the cache disk.",
                                e.getMessage());
                        return Mono.just(false);
                    })
                    .flatMap(checked -> checked ? zeroCopy.writeWith(revision.dataFile(), position, count)
                            : response.writeWith(region(revision, position, last, response.bufferFactory())))
                    .doOnError(e -> logSendFailure(revision, range, e));
        }
        return response.writeWith(region(revision, position, last, response.bufferFactory()))
                .doOnError(e -> logSendFailure(revision, range, e));
    }

    /**
     * Bytes {@code first..last} of the revision in order, in windows on the fetch-size grid: each
     * window planned (cached runs, joined and new fetches) when it is subscribed, up to read-ahead
     * windows at once, so a long range keeps that many fetches in flight ahead of what is sent.
     */
    private Flux<DataBuffer> region(CachedRevision revision, long first, long last, DataBufferFactory factory) {
        long window = filler.fetchSize();
        long end = last + 1;
        long windows = (end - 1) / window - first / window + 1;
        return Flux.range(0, (int) windows)
                .flatMapSequential(i -> {
                    long from = Math.max(first, (first / window + i) * window);
                    long to = Math.min(end, (first / window + i + 1) * window);
                    return Flux.defer(() -> Flux.fromIterable(filler.plan(revision, from, to)))
                            .concatMap(part -> {
                                (part instanceof CacheFiller.Cached ? hitBytes : missBytes).increment(part.length());
                                return filler.buffer(revision, part, factory);
                            });
                }, readAhead, 1)
                .doOnDiscard(DataBuffer.class, DataBufferUtils::release)
                // When one window fails the response ends; the failures of the windows still in flight
                // come after that and are logged by Reactor at ERROR unless handed elsewhere: once is enough.
                .contextWrite(reactor.util.context.Context.of(ERROR_DROPPED_HOOK,
                        (java.util.function.Consumer<Throwable>) e -> log.debug("After a failed response: {}", e.toString())));
    }

    /** Reactor's context key for a subscription's own handler of errors that arrive after it ended. */
    private static final String ERROR_DROPPED_HOOK = "reactor.onErrorDropped.local";

    private void logSendFailure(CachedRevision revision, String range, Throwable e) {
        if (e instanceof IOException && !(e instanceof java.io.EOFException)) {
            log.debug("Sending image '{}' range {} stopped: {}", revision.upstream().name(), range, e.toString());
        } else {
            sendFailures.warn("Sending image '{}' (revision {}) range {} failed: {}", revision.upstream().name(),
                    revision.upstream().etag(), range, e.getMessage());
        }
    }
}
