package dev.branchboot.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Instant;
import java.time.Year;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/** The three HTTP-date forms a recipient must accept (RFC 9110 section 5.6.7), and what is not a date. */
class HttpDatesTest {
    private static final Instant RFC_EXAMPLE = Instant.parse("1994-11-06T08:49:37Z");

    @Test
    void imfFixdateRfc850AndAsctimeAreTheSameInstant() {
        assertEquals(RFC_EXAMPLE, HttpDates.parse("Sun, 06 Nov 1994 08:49:37 GMT"));
        assertEquals(RFC_EXAMPLE, HttpDates.parse("Sunday, 06-Nov-94 08:49:37 GMT"));
        assertEquals(RFC_EXAMPLE, HttpDates.parse("Sun Nov  6 08:49:37 1994"));
        assertEquals(Instant.parse("2026-11-24T10:00:00Z"), HttpDates.parse("Tue Nov 24 10:00:00 2026"));
        assertEquals(HttpDates.format(RFC_EXAMPLE), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    @Test
    void aTwoDigitYearMoreThanFiftyYearsAheadIsThePast() {
        int now = Year.now(ZoneOffset.UTC).getValue();
        int soon = (now + 10) % 100;
        int far = (now + 60) % 100;
        assertEquals(now + 10, HttpDates.fullYear(soon));
        assertEquals(now + 60 - 100, HttpDates.fullYear(far));
    }

    @Test
    void whatIsNotAnHttpDateIsNull() {
        assertNull(HttpDates.parse(null));
        assertNull(HttpDates.parse(""));
        assertNull(HttpDates.parse("yesterday"));
        assertNull(HttpDates.parse("Sunday, 31-Feb-94 08:49:37 GMT"));
        assertNull(HttpDates.parse("Sun Nov  6 08:49:37 94"));
        assertNull(HttpDates.parse("Sunday, 06-Nov-94 08:49:37 PST"));
        assertNull(HttpDates.parse("1994-11-06T08:49:37Z"));
    }
}
