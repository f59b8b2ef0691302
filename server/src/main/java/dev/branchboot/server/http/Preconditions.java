package dev.branchboot.server.http;

import java.time.Instant;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;

/**
 * Conditional requests on an image (RFC 9110 section 13.2.2, evaluated in the RFC's order):
 * If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, and If-Range, which decides
 * whether a Range header applies at all.
 */
public final class Preconditions {

    /** What the preconditions say. */
    public enum Outcome {
        /** Go on and serve the request. */
        PROCEED,
        /** Answer 304 Not Modified. */
        NOT_MODIFIED,
        /** Answer 412 Precondition Failed. */
        PRECONDITION_FAILED
    }

    private Preconditions() {
    }

    /** Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since for a GET or HEAD. */
    public static Outcome evaluate(HttpHeaders request, HttpMethod method, ImageFile file) {
        String ifMatch = request.getFirst(HttpHeaders.IF_MATCH);
        if (ifMatch != null) {
            if (!EntityTags.strongMatch(joined(request, HttpHeaders.IF_MATCH), file.etag())) {
                return Outcome.PRECONDITION_FAILED;
            }
        } else {
            Instant unmodifiedSince = parseDate(request.getFirst(HttpHeaders.IF_UNMODIFIED_SINCE));
            if (unmodifiedSince != null && file.lastModified().isAfter(unmodifiedSince)) {
                return Outcome.PRECONDITION_FAILED;
            }
        }
        String ifNoneMatch = request.getFirst(HttpHeaders.IF_NONE_MATCH);
        boolean safe = method == HttpMethod.GET || method == HttpMethod.HEAD;
        if (ifNoneMatch != null) {
            if (EntityTags.weakMatch(joined(request, HttpHeaders.IF_NONE_MATCH), file.etag())) {
                return safe ? Outcome.NOT_MODIFIED : Outcome.PRECONDITION_FAILED;
            }
        } else if (safe) {
            Instant modifiedSince = parseDate(request.getFirst(HttpHeaders.IF_MODIFIED_SINCE));
            if (modifiedSince != null && !file.lastModified().isAfter(modifiedSince)) {
                return Outcome.NOT_MODIFIED;
            }
        }
        return Outcome.PROCEED;
    }

    /**
     * Whether a Range header may be honoured given If-Range (RFC 9110 section 13.1.5): yes without
     * If-Range; with an entity tag only if it strongly matches; with a date only if it equals the
     * file's modification time. Otherwise the whole file is sent with 200.
     */
    public static boolean rangeApplies(HttpHeaders request, ImageFile file) {
        String ifRange = request.getFirst(HttpHeaders.IF_RANGE);
        if (ifRange == null) {
            return true;
        }
        String value = ifRange.strip();
        if (value.startsWith("\"") || value.startsWith("W/")) {
            return !value.startsWith("W/") && value.equals(file.etag());
        }
        Instant date = parseDate(value);
        return date != null && date.equals(file.lastModified());
    }

    private static String joined(HttpHeaders request, String name) {
        return String.join(",", request.get(name));
    }

    /** An HTTP-date in any of its three forms, or {@code null} when absent or invalid (then the header is ignored). */
    static Instant parseDate(String value) {
        return HttpDates.parse(value);
    }
}
