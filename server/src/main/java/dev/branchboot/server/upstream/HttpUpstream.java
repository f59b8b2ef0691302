package dev.branchboot.server.upstream;

import dev.branchboot.server.http.EntityTags;
import dev.branchboot.server.http.HttpDates;
import dev.branchboot.server.util.PrintableText;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.springframework.web.util.UriUtils;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.HttpClientResponse;

/**
 * An upstream HTTP server's images folder: {@code HEAD} for a revision, {@code GET} with
 * {@code Range} and {@code If-Match} for its bytes. Every answer is checked strictly (status 206,
 * the exact {@code Content-Range}, the revision's ETag, the body length); anything else is an
 * {@link UpstreamException}, so bytes that are not exactly the asked range of the asked revision
 * never reach the cache.
 */
final class HttpUpstream implements Upstream {
    private final URI upstream;
    private final HttpClient http;

    HttpUpstream(URI upstream, HttpClient http) {
        this.upstream = upstream;
        this.http = http;
    }

    @Override
    public URI uri() {
        return upstream;
    }

    @Override
    public Mono<UpstreamRevision> describe(String name) {
        return describeHttp(upstream, name);
    }

    @Override
    public Mono<byte[]> fetch(UpstreamRevision revision, long first, int length) {
        return fetchHttp(upstream, revision, first, length, false);
    }

    /**
     * The revision's {@code Content-Location} (a branchboot origin names the file a symlinked name
     * points to) relative to this folder, or the name itself.
     */
    @Override
    public String revisionName(UpstreamRevision revision) {
        String location = revision.contentLocation();
        if (location != null) {
            String base = upstream.getRawPath();
            base = base.endsWith("/") ? base : base + "/";
            URI resolved = upstream.resolve(location);
            String path = resolved.getRawPath();
            if (path != null && path.startsWith(base) && path.length() > base.length()) {
                return UriUtils.decode(path.substring(base.length()), StandardCharsets.UTF_8);
            }
        }
        return revision.name();
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
        String what = revision.describeRange(first, length);
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
                    UpstreamException refused = check(upstream, revision, response, first, length, what, byLocation);
                    if (refused != null) {
                        return Mono.error(refused);
                    }
                    return body.asByteArray().defaultIfEmpty(new byte[0]).flatMap(bytes -> bytes.length == length
                            ? Mono.just(bytes)
                            : Mono.error(new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream,
                                    what + ": body had " + bytes.length + " bytes", null)));
                });
        if (!byLocation && revision.contentLocation() != null) {
            // The name moved on to a newer revision; the revision's own name may still have it. If that is
            // gone too, the revision is: said as such, not as a missing image (the name still has one).
            fetch = fetch.onErrorResume(e -> e instanceof UpstreamException u && u.kind() == UpstreamException.Kind.REVISION_GONE,
                    e -> fetchHttp(upstream, revision, first, length, true).onErrorMap(
                            f -> f instanceof UpstreamException u && u.kind() == UpstreamException.Kind.NOT_FOUND,
                            f -> new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what + ": the name has "
                                    + "another revision now (412), and the revision's own name "
                                    + PrintableText.of(revision.contentLocation()) + " is gone too (404 or 410)", null)));
        }
        return fetch;
    }

    private static UpstreamException check(URI upstream, UpstreamRevision revision, HttpClientResponse response,
            long first, int length, String what, boolean byLocation) {
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
        String location = headers.get(HttpHeaderNames.CONTENT_LOCATION);
        if (!byLocation && revision.contentLocation() != null && !revision.contentLocation().equals(location)) {
            // The same ETag on another file: two revisions of one length written in one second.
            return new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what + ": Content-Location "
                    + location + " instead of " + revision.contentLocation() + ", the name now means another file", null);
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
