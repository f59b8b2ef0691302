package dev.branchboot.server.http;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.Month;
import java.time.Year;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.format.TextStyle;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * HTTP dates (RFC 9110 section 5.6.7): IMF-fixdate formatting for Last-Modified and Date,
 * remembering the last value (almost every response repeats the same few seconds, and java.time's
 * formatter costs more than the rest of a small range request's header work together), and
 * parsing of all three forms a recipient must accept: IMF-fixdate, the obsolete RFC 850 form and
 * C's asctime form.
 */
public final class HttpDates {
    private static final DateTimeFormatter IMF_FIXDATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ROOT).withZone(ZoneOffset.UTC);

    private record Formatted(long epochSecond, String text) {
    }

    private static volatile Formatted lastModified = new Formatted(Long.MIN_VALUE, "");
    private static volatile Formatted now = new Formatted(Long.MIN_VALUE, "");

    private static final String MONTHS = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
    /** "Sunday, 06-Nov-94 08:49:37 GMT" */
    private static final Pattern RFC_850 = Pattern.compile(
            "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-" + MONTHS
                    + "-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT");
    /** "Sun Nov  6 08:49:37 1994" */
    private static final Pattern ASCTIME = Pattern.compile(
            "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) " + MONTHS + " ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})");

    private HttpDates() {
    }

    /**
     * The instant of an HTTP-date in any of the three forms, or {@code null} when {@code value} is
     * absent or not a valid date (a recipient then ignores the header it came in).
     */
    public static Instant parse(String value) {
        if (value == null) {
            return null;
        }
        String text = value.strip();
        try {
            return ZonedDateTime.parse(text, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
        } catch (DateTimeParseException e) {
            // not IMF-fixdate: one of the obsolete forms, or nothing
        }
        try {
            Matcher rfc850 = RFC_850.matcher(text);
            if (rfc850.matches()) {
                return at(fullYear(Integer.parseInt(rfc850.group(3))), rfc850.group(2), rfc850.group(1), rfc850, 4);
            }
            Matcher asctime = ASCTIME.matcher(text);
            if (asctime.matches()) {
                return at(Integer.parseInt(asctime.group(6)), asctime.group(1), asctime.group(2).strip(), asctime, 3);
            }
        } catch (java.time.DateTimeException e) {
            return null; // the 31st of February and the like
        }
        return null;
    }

    private static Instant at(int year, String month, String day, Matcher time, int firstTimeGroup) {
        return LocalDateTime.of(year, monthOf(month), Integer.parseInt(day), Integer.parseInt(time.group(firstTimeGroup)),
                Integer.parseInt(time.group(firstTimeGroup + 1)), Integer.parseInt(time.group(firstTimeGroup + 2)))
                .toInstant(ZoneOffset.UTC);
    }

    private static Month monthOf(String abbreviation) {
        for (Month month : Month.values()) {
            if (month.getDisplayName(TextStyle.SHORT, Locale.US).equals(abbreviation)) {
                return month;
            }
        }
        throw new java.time.DateTimeException("no month " + abbreviation);
    }

    /**
     * A two-digit year of the RFC 850 form: RFC 9110 reads one that would lie more than 50 years in
     * the future as the most recent past year with the same last two digits.
     */
    static int fullYear(int twoDigits) {
        int now = Year.now(ZoneOffset.UTC).getValue();
        int year = now / 100 * 100 + twoDigits;
        return year > now + 50 ? year - 100 : year;
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
