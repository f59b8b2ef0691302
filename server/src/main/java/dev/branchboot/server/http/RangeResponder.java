package dev.branchboot.server.http;

import dev.branchboot.server.metrics.ImageRequestMetrics;
import java.time.Instant;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * The RFC 9110 part of answering {@code GET} and {@code HEAD} for one image, shared by origin and
 * branch mode: validators, preconditions (304/412), the Range decision (200, 206 single or
 * multipart, 416). Where the bytes come from — a file sent zero-copy, or a cache filled from
 * upstream — is the caller's {@link BodySender}.
 */
public final class RangeResponder {
    private static final Logger log = LoggerFactory.getLogger(RangeResponder.class);

    private RangeResponder() {
    }

    /** Sends the bytes of a response whose status and headers the responder has decided. */
    public interface BodySender {
        /** Sends {@code count} bytes from {@code position} with {@code status} (nothing for HEAD). */
        Mono<Void> send(HttpStatus status, long position, long count);

        /** Sends the body of a 206 {@code multipart/byteranges} response; its headers are set. */
        Mono<Void> multipart(MultipartByteRanges multipart, List<ByteRange> ranges);
    }

    /**
     * Answers the request in {@code exchange} for {@code file}, whose revision is named by
     * {@code contentLocation} (or {@code null} when the name is the revision).
     */
    public static Mono<Void> respond(ServerWebExchange exchange, ImageFile file, String contentLocation, int maxRanges,
                                     BodySender body) {
        ServerHttpResponse response = exchange.getResponse();
        HttpHeaders requestHeaders = exchange.getRequest().getHeaders();
        HttpMethod method = exchange.getRequest().getMethod();
        HttpHeaders headers = response.getHeaders();
        headers.set(HttpHeaders.ETAG, file.etag());
        if (!file.lastModified().equals(Instant.EPOCH)) {
            // EPOCH stands for "unknown": an upstream that sent no Last-Modified gets none passed on.
            headers.set(HttpHeaders.LAST_MODIFIED, HttpDates.format(file.lastModified()));
        }
        headers.set(HttpHeaders.ACCEPT_RANGES, "bytes");
        if (contentLocation != null) {
            headers.set(HttpHeaders.CONTENT_LOCATION, contentLocation);
        }
        switch (Preconditions.evaluate(requestHeaders, method, file)) {
            case NOT_MODIFIED -> {
                response.setStatusCode(HttpStatus.NOT_MODIFIED);
                return response.setComplete();
            }
            case PRECONDITION_FAILED -> {
                response.setStatusCode(HttpStatus.PRECONDITION_FAILED);
                headers.setContentLength(0);
                return response.setComplete();
            }
            case PROCEED -> {
            }
        }
        String range = requestHeaders.getFirst(HttpHeaders.RANGE);
        // RFC 9110 section 14.2: Range is only defined for GET; HEAD describes the whole file.
        if (range == null || method != HttpMethod.GET || !Preconditions.rangeApplies(requestHeaders, file)) {
            return body.send(HttpStatus.OK, 0, file.size());
        }
        RangeDecision decision = ByteRanges.evaluate(range, file.size(), maxRanges);
        if (decision instanceof RangeDecision.Ignore ignore) {
            log.debug("Ignoring Range '{}' for image '{}': {}", range, file.name(), ignore.reason());
            return body.send(HttpStatus.OK, 0, file.size());
        }
        if (decision instanceof RangeDecision.NotSatisfiable refused) {
            log.debug("Range '{}' for image '{}' not satisfiable: {}", range, file.name(), refused.reason());
            response.setStatusCode(HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE);
            headers.set(HttpHeaders.CONTENT_RANGE, "bytes */" + file.size());
            headers.setContentLength(0);
            return response.setComplete();
        }
        List<ByteRange> ranges = ((RangeDecision.Partial) decision).ranges();
        if (ranges.size() == 1) {
            ByteRange only = ranges.get(0);
            headers.set(HttpHeaders.CONTENT_RANGE, only.contentRange(file.size()));
            return body.send(HttpStatus.PARTIAL_CONTENT, only.first(), only.length());
        }
        MultipartByteRanges multipart = new MultipartByteRanges(file, ranges);
        response.setStatusCode(HttpStatus.PARTIAL_CONTENT);
        headers.set(HttpHeaders.CONTENT_TYPE, multipart.contentType());
        headers.setContentLength(multipart.contentLength());
        ImageRequestMetrics.recordBodyBytes(exchange, multipart.contentLength());
        return body.multipart(multipart, ranges);
    }
}
