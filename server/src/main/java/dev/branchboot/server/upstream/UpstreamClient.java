package dev.branchboot.server.upstream;

import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.images.EntityTags;
import dev.branchboot.server.images.HttpDates;
import dev.branchboot.server.images.ImageFile;
import dev.branchboot.server.images.ImageNameException;
import dev.branchboot.server.images.ImageNotFoundException;
import dev.branchboot.server.images.ImageStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.timeout.ReadTimeoutException;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import org.springframework.web.util.UriUtils;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.HttpClientResponse;
import reactor.netty.http.client.PrematureCloseException;
import reactor.util.retry.Retry;

/**
 * The branch cache's only way to an upstream: describes an image's current revision
 * ({@code HEAD}) and fetches byte ranges of one revision ({@code GET} with {@code Range} and
 * {@code If-Match}), trying the configured upstreams in order and retrying with exponential
 * backoff. Every answer is checked strictly (status 206, the exact {@code Content-Range}, the
 * revision's ETag, the body length) and anything else is an {@link UpstreamException}, so bytes
 * that are not exactly the asked range of the asked revision never reach the cache.
 */
@BranchMode
@Component
public class UpstreamClient {
    private static final Logger log = LoggerFactory.getLogger(UpstreamClient.class);

    private final List<URI> upstreams;
    private final HttpClient http;
    private final int attempts;
    private final Duration backoff;
    private final MeterRegistry registry;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<String, Timer> latencies = new ConcurrentHashMap<>();
    private final Map<URI, ImageStore> folders = new ConcurrentHashMap<>();

    /** A client of {@code branchboot.upstreams} with the cache's timeout and retry settings. */
    public UpstreamClient(BranchbootProperties properties, MeterRegistry registry) {
        this.upstreams = List.copyOf(properties.getUpstreams());
        this.attempts = properties.getCache().getFetchAttempts();
        this.backoff = properties.getCache().getRetryBackoff();
        this.registry = registry;
        Duration timeout = properties.getCache().getUpstreamTimeout();
        this.http = HttpClient.create()
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
                .responseTimeout(timeout)
                // Images are compressed already; a decompressing hop would also change lengths.
                .compress(false);
        log.info("Branch cache upstreams, in order of preference: {}", upstreams);
    }

    /** The configured upstream base URLs, in order. */
    public List<URI> upstreams() {
        return upstreams;
    }

    /**
     * The current revision of image {@code name} at the first upstream that has it.
     *
     * @return a Mono failing with {@link UpstreamException} of kind {@code NOT_FOUND} when no
     *         upstream has it, or the last failure when none answered
     */
    public Mono<UpstreamRevision> describe(String name) {
        return withFailover(upstream -> isFile(upstream) ? describeFile(upstream, name) : describeHttp(upstream, name));
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
        return withFailover(upstream -> {
            long start = System.nanoTime();
            Mono<byte[]> fetch = isFile(upstream) ? fetchFile(upstream, revision, first, length)
                    : fetchHttp(upstream, revision, first, length, false);
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
                        sink.error(new UpstreamException(UpstreamException.Kind.INTEGRITY, upstream, "range " + first + "-"
                                + (first + length - 1) + " of image '" + revision.name() + "' revision " + revision.etag()
                                + ": " + problem, null));
                    }
                });
            }
            return fetch.doOnNext(bytes -> {
                latency(upstream).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                counter("branchboot.upstream", upstream, null).increment(bytes.length);
            });
        });
    }

    /**
     * The name of {@code revision}'s own file relative to the upstream folder: its
     * {@code Content-Location} (a branchboot origin names the file a symlinked name points to), or
     * the name itself.
     */
    public String revisionName(UpstreamRevision revision) {
        String location = revision.contentLocation();
        if (location != null && !isFile(revision.upstream())) {
            String base = revision.upstream().getRawPath();
            base = base.endsWith("/") ? base : base + "/";
            URI resolved = revision.upstream().resolve(location);
            String path = resolved.getRawPath();
            if (path != null && path.startsWith(base) && path.length() > base.length()) {
                return org.springframework.web.util.UriUtils.decode(path.substring(base.length()), StandardCharsets.UTF_8);
            }
        }
        return revision.name();
    }

    private <T> Mono<T> withFailover(Function<URI, Mono<T>> call) {
        return Mono.defer(() -> tryFrom(0, call, null))
                .retryWhen(Retry.backoff(attempts - 1, backoff)
                        .filter(e -> e instanceof UpstreamException u && u.retryable())
                        .doBeforeRetry(signal -> log.info("Retrying after upstream failure (retry {} of {}): {}",
                                signal.totalRetries() + 1, attempts - 1, signal.failure().getMessage()))
                        .onRetryExhaustedThrow((spec, signal) -> signal.failure()));
    }

    private <T> Mono<T> tryFrom(int index, Function<URI, Mono<T>> call, UpstreamException previous) {
        if (index >= upstreams.size()) {
            return Mono.error(previous);
        }
        URI upstream = upstreams.get(index);
        return Mono.defer(() -> call.apply(upstream)).onErrorResume(e -> {
            UpstreamException failure = classify(upstream, e);
            counter("branchboot.upstream.errors", upstream, failure.kind()).increment();
            if (failure.retryable()) {
                log.warn("{}", failure.getMessage());
            } else {
                log.debug("{}", failure.getMessage());
            }
            // A transient fault anywhere keeps the whole attempt retryable: the image may be behind it.
            UpstreamException kept = previous != null && previous.retryable() && !failure.retryable() ? previous : failure;
            return tryFrom(index + 1, call, kept);
        });
    }

    private static UpstreamException classify(URI upstream, Throwable e) {
        if (e instanceof UpstreamException u) {
            return u;
        }
        if (e instanceof PrematureCloseException) {
            return new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream,
                    "upstream closed the connection before the whole body arrived", e);
        }
        if (e instanceof ReadTimeoutException || e instanceof TimeoutException) {
            return new UpstreamException(UpstreamException.Kind.TIMEOUT, upstream, "upstream did not answer in time", e);
        }
        return new UpstreamException(UpstreamException.Kind.CONNECT, upstream, "upstream unreachable: " + e, e);
    }

    private static boolean isFile(URI upstream) {
        return "file".equals(upstream.getScheme());
    }

    private static String url(URI upstream, String name) {
        String base = upstream.toString();
        StringBuilder url = new StringBuilder(base.endsWith("/") ? base.substring(0, base.length() - 1) : base);
        for (String segment : name.split("/")) {
            url.append('/').append(UriUtils.encodePathSegment(segment, StandardCharsets.UTF_8));
        }
        return url.toString();
    }

    private Mono<UpstreamRevision> describeHttp(URI upstream, String name) {
        String url = url(upstream, name);
        return http.head().uri(url).responseSingle((response, body) -> body.asByteArray().then(Mono.defer(() -> {
            int status = response.status().code();
            if (status == 404 || status == 410) {
                return Mono.error(new UpstreamException(UpstreamException.Kind.NOT_FOUND, upstream,
                        "image '" + name + "' not found (" + status + ")", null));
            }
            if (status != 200) {
                return Mono.error(new UpstreamException(UpstreamException.Kind.STATUS, upstream,
                        "HEAD of image '" + name + "' answered " + status + " instead of 200", null));
            }
            HttpHeaders headers = response.responseHeaders();
            long size = parseLength(headers.get(HttpHeaderNames.CONTENT_LENGTH));
            if (size < 0) {
                return Mono.error(new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream,
                        "HEAD of image '" + name + "' has no valid Content-Length", null));
            }
            Instant lastModified = parseDate(headers.get(HttpHeaderNames.LAST_MODIFIED));
            String etag = headers.get(HttpHeaderNames.ETAG);
            boolean synthesized = false;
            if (etag == null || !etag.startsWith("\"") || etag.length() < 2 || !etag.endsWith("\"")) {
                // No strong ETag: the nginx formula keeps branches agreeing on the revision.
                etag = EntityTags.of(lastModified != null ? lastModified : Instant.EPOCH, size);
                synthesized = true;
            }
            return Mono.just(new UpstreamRevision(name, etag, synthesized, size, lastModified,
                    headers.get(HttpHeaderNames.CONTENT_LOCATION), upstream));
        })));
    }

    private Mono<byte[]> fetchHttp(URI upstream, UpstreamRevision revision, long first, int length, boolean byLocation) {
        long last = first + length - 1;
        String what = "range " + first + "-" + last + " of image '" + revision.name() + "' revision " + revision.etag();
        String url = byLocation ? upstream.resolve(revision.contentLocation()).toString() : url(upstream, revision.name());
        Mono<byte[]> fetch = http
                .headers(h -> {
                    h.set(HttpHeaderNames.RANGE, "bytes=" + first + "-" + last);
                    if (!revision.etagSynthesized()) {
                        h.set(HttpHeaderNames.IF_MATCH, revision.etag());
                    }
                })
                .get().uri(url)
                .responseSingle((response, body) -> {
                    UpstreamException refused = check(upstream, revision, response, first, length, what);
                    if (refused != null) {
                        return Mono.error(refused);
                    }
                    return body.asByteArray().defaultIfEmpty(new byte[0]).flatMap(bytes -> bytes.length == length
                            ? Mono.just(bytes)
                            : Mono.error(new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream,
                                    what + ": body had " + bytes.length + " bytes", null)));
                });
        if (!byLocation && revision.contentLocation() != null) {
            // The name moved on to a newer revision; the revision's own name may still have it.
            fetch = fetch.onErrorResume(e -> e instanceof UpstreamException u && u.kind() == UpstreamException.Kind.REVISION_GONE,
                    e -> fetchHttp(upstream, revision, first, length, true));
        }
        return fetch;
    }

    private static UpstreamException check(URI upstream, UpstreamRevision revision, HttpClientResponse response,
            long first, int length, String what) {
        int status = response.status().code();
        HttpHeaders headers = response.responseHeaders();
        if (status == 412) {
            return new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what + ": 412, the upstream "
                    + "has another revision now", null);
        }
        if (status == 404 || status == 410) {
            return new UpstreamException(UpstreamException.Kind.NOT_FOUND, upstream, what + ": " + status, null);
        }
        String expectedRange = "bytes " + first + "-" + (first + length - 1) + "/" + revision.size();
        if (status == 200 && first == 0 && length == revision.size()) {
            expectedRange = null;
        } else if (status != 206) {
            return new UpstreamException(UpstreamException.Kind.STATUS, upstream, what + ": answered " + status
                    + " instead of 206 Partial Content", null);
        }
        String contentRange = headers.get(HttpHeaderNames.CONTENT_RANGE);
        if (expectedRange != null && !expectedRange.equals(contentRange == null ? null : contentRange.strip())) {
            return new UpstreamException(UpstreamException.Kind.WRONG_RANGE, upstream, what + ": Content-Range '"
                    + contentRange + "' instead of '" + expectedRange + "'", null);
        }
        long contentLength = parseLength(headers.get(HttpHeaderNames.CONTENT_LENGTH));
        if (headers.contains(HttpHeaderNames.CONTENT_LENGTH) && contentLength != length) {
            return new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream, what + ": Content-Length "
                    + headers.get(HttpHeaderNames.CONTENT_LENGTH) + " instead of " + length, null);
        }
        String etag = headers.get(HttpHeaderNames.ETAG);
        if (!revision.etagSynthesized() && etag != null && !etag.equals(revision.etag())) {
            return new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what + ": ETag " + etag
                    + " mid-fill", null);
        }
        if (revision.etagSynthesized() && revision.lastModified() != null) {
            Instant modified = parseDate(headers.get(HttpHeaderNames.LAST_MODIFIED));
            if (modified != null && !modified.equals(revision.lastModified())) {
                return new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what
                        + ": Last-Modified changed to " + modified + " mid-fill", null);
            }
        }
        return null;
    }

    private Mono<UpstreamRevision> describeFile(URI upstream, String name) {
        return Mono.fromCallable(() -> {
            ImageFile file = resolveFile(upstream, name);
            return new UpstreamRevision(name, file.etag(), false, file.size(), file.lastModified(), null, upstream);
        }).subscribeOn(Schedulers.boundedElastic());
    }

    /**
     * Image {@code name} in the folder of a {@code file:} upstream, by the origin's own rules
     * ({@link ImageStore}): no dot-files, no {@code *.part} uploads, no symlink leading out of the
     * folder or to a file that would not be served by name.
     */
    private ImageFile resolveFile(URI upstream, String name) {
        ImageStore folder = folders.computeIfAbsent(upstream, u -> {
            try {
                return ImageStore.folder(Path.of(u));
            } catch (IOException e) {
                throw new UpstreamException(UpstreamException.Kind.IO, u, "cannot open the image folder " + u + ": " + e, e);
            }
        });
        try {
            return folder.resolve(name);
        } catch (ImageNotFoundException | ImageNameException e) {
            throw new UpstreamException(UpstreamException.Kind.NOT_FOUND, upstream, "image '" + name + "' not found: "
                    + e.getMessage(), null);
        }
    }

    private Mono<byte[]> fetchFile(URI upstream, UpstreamRevision revision, long first, int length) {
        String what = "range " + first + "-" + (first + length - 1) + " of image '" + revision.name() + "' revision "
                + revision.etag();
        return Mono.fromCallable(() -> resolveFile(upstream, revision.name())).subscribeOn(Schedulers.boundedElastic())
                .flatMap(current -> {
            if (!current.etag().equals(revision.etag())) {
                return Mono.error(new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what
                        + ": the file is now revision " + current.etag(), null));
            }
            return Mono.fromCallable(() -> {
                ByteBuffer buffer = ByteBuffer.allocate(length);
                try (FileChannel channel = FileChannel.open(current.path(), StandardOpenOption.READ)) {
                    while (buffer.hasRemaining()) {
                        if (channel.read(buffer, first + buffer.position()) < 0) {
                            throw new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream, what
                                    + ": the file ended at " + (first + buffer.position()), null);
                        }
                    }
                } catch (IOException e) {
                    throw new UpstreamException(UpstreamException.Kind.IO, upstream, what + ": " + e, e);
                }
                return buffer.array();
            }).subscribeOn(Schedulers.boundedElastic());
        }).flatMap(bytes -> describeFile(upstream, revision.name()).flatMap(after -> after.etag().equals(revision.etag())
                ? Mono.just(bytes)
                // Replaced while we read: the bytes may mix two files.
                : Mono.error(new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what
                        + ": the file changed while it was read", null))));
    }

    private Counter counter(String name, URI upstream, UpstreamException.Kind kind) {
        String key = name + ' ' + upstream + ' ' + kind;
        return counters.computeIfAbsent(key, k -> {
            Counter.Builder builder = Counter.builder(name).tag("upstream", upstream.toString());
            if (kind != null) {
                builder.tag("kind", kind.name().toLowerCase()).description("Failed upstream requests by kind");
            } else {
                builder.baseUnit("bytes").description("Bytes fetched from the upstream into the cache");
            }
            return builder.register(registry);
        });
    }

    private Timer latency(URI upstream) {
        return latencies.computeIfAbsent(upstream.toString(), u -> Timer.builder("branchboot.upstream.fetch.latency")
                .description("Time to fetch one chunk from the upstream, retries excluded")
                .tag("upstream", u).publishPercentileHistogram().register(registry));
    }

    private static long parseLength(String value) {
        if (value == null) {
            return -1;
        }
        try {
            return Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static Instant parseDate(String value) {
        return HttpDates.parse(value);
    }
}
