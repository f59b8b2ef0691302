package dev.branchboot.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The Range parser and its policy, case by case (the HTTP tests check the same through the server). */
class ByteRangesTest {
    private static final long LENGTH = 1000;

    private static String partial(String header) {
        RangeDecision decision = ByteRanges.evaluate(header, LENGTH, 10);
        RangeDecision.Partial partial = assertInstanceOf(RangeDecision.Partial.class, decision, header);
        List<String> ranges = new ArrayList<>();
        for (ByteRange range : partial.ranges()) {
            ranges.add(range.toString());
        }
        return String.join(",", ranges);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "bytes=0-0|0-0",
            "bytes=0-499|0-499",
            "bytes=500-|500-999",
            "bytes=-1|999-999",
            "bytes=-500|500-999",
            "bytes=-5000|0-999",                       // suffix longer than the file: all of it
            "bytes=900-5000|900-999",                  // last past the end is clamped
            "bytes=999-|999-999",
            "BYTES=1-2|1-2",                           // the unit is case-insensitive
            "bytes= 1-2 ,\t4-5 |1-2,4-5",              // optional whitespace around elements
            "bytes=1-2,,4-5,|1-2,4-5",                 // empty list elements are ignored
            "bytes=5-9,0-1|5-9,0-1",                   // disjoint ranges keep the client's order
            "bytes=0-9,5-14|0-14",                     // overlapping ranges are merged
            "bytes=10-19,0-9|0-19",                    // touching ranges are merged too (once any overlap)
            "bytes=0-,0-,0-,0-|0-999",
            "bytes=-100,0-99,950-|0-99,900-999",       // merge sorts
            "bytes=0-9,2000-3000|0-9",                 // an unsatisfiable range among satisfiable ones is dropped
            "bytes=0-99999999999999999999999|0-999",   // overflowing last position saturates
    })
    void satisfiableRanges(String header, String expected) {
        assertEquals(expected, partial(header));
    }

    @ParameterizedTest
    @ValueSource(strings = {"bytes", "bytes=", "bytes=,", "bytes=abc", "bytes=5-1", "bytes=--5", "bytes=-",
            "bytes=1-2-3", "bytes=0x10-20", "bytes=1 - 2", "bytes=+1-2", "bytes=-1-2", "items=0-5", "bytes 0-5",
            "bytes=0-5;", "=0-5", "bytes=0-9,5-1", "bytes=\u0661-2"})
    void malformedOrForeignHeadersAreIgnored(String header) {
        assertInstanceOf(RangeDecision.Ignore.class, ByteRanges.evaluate(header, LENGTH, 10), header);
    }

    @ParameterizedTest
    @ValueSource(strings = {"bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=5000-,-0",
            "bytes=99999999999999999999999-"})
    void unsatisfiableRangesGive416(String header) {
        assertInstanceOf(RangeDecision.NotSatisfiable.class, ByteRanges.evaluate(header, LENGTH, 10), header);
    }

    @Test
    void everyRangeOfAnEmptyFileIsUnsatisfiable() {
        assertInstanceOf(RangeDecision.NotSatisfiable.class, ByteRanges.evaluate("bytes=0-", 0, 10));
        assertInstanceOf(RangeDecision.NotSatisfiable.class, ByteRanges.evaluate("bytes=-10", 0, 10));
    }

    @Test
    void moreRangesThanTheLimitAreRefusedEvenIfTheyWouldCoalesce() {
        String eleven = "bytes=" + "0-1,".repeat(11);
        assertInstanceOf(RangeDecision.NotSatisfiable.class, ByteRanges.evaluate(eleven, LENGTH, 10));
        String ten = "bytes=" + "0-1,".repeat(10);
        assertEquals("0-1", partial(ten));
    }
}
