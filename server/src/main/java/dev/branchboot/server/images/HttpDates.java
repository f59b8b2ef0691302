package dev.branchboot.server.images;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * IMF-fixdate formatting (RFC 9110 section 5.6.7) for Last-Modified and Date, remembering the last
 * value: almost every response repeats the same few seconds, and java.time's formatter costs more
 * than the rest of a small range request's header work together.
 */
public final class HttpDates {
    private static final DateTimeFormatter IMF_FIXDATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ROOT).withZone(ZoneOffset.UTC);

    private record Formatted(long epochSecond, String text) {
    }

    private static volatile Formatted lastModified = new Formatted(Long.MIN_VALUE, "");
    private static volatile Formatted now = new Formatted(Long.MIN_VALUE, "");

    private HttpDates() {
    }

    /** The HTTP-date of {@code instant} (whole seconds). */
    public static String format(Instant instant) {
        Formatted cached = lastModified;
        long second = instant.getEpochSecond();
        if (cached.epochSecond() != second) {
            cached = new Formatted(second, IMF_FIXDATE.format(Instant.ofEpochSecond(second)));
            lastModified = cached;
        }
        return cached.text();
    }

    /** The current time as an HTTP-date, for the Date header. */
    public static String now() {
        Formatted cached = now;
        long second = System.currentTimeMillis() / 1000;
        if (cached.epochSecond() != second) {
            cached = new Formatted(second, IMF_FIXDATE.format(Instant.ofEpochSecond(second)));
            now = cached;
        }
        return cached.text();
    }
}
