package dev.branchboot.server.http;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * RFC 9110 range logic for {@code Range: bytes=...} (section 14): parses the range set, drops the
 * unsatisfiable ranges, clamps the rest to the file and coalesces overlapping ones.
 *
 * <p>Policy where the RFC leaves a choice (section 14.1.1 lets a server ignore or reject abusive
 * range sets):
 * <ul>
 *   <li>a syntactically invalid header, or one with a unit other than {@code bytes}, is ignored (200);</li>
 *   <li>more than {@code maxRanges} range specs are refused with 416 before any is evaluated;</li>
 *   <li>if any two satisfiable ranges overlap or touch, all of them are sorted and merged, so a
 *       response never carries a byte twice and is never longer than the file plus part headers;
 *       otherwise the ranges keep the client's order.</li>
 * </ul>
 */
public final class ByteRanges {
    private static final String BYTES_UNIT = "bytes";

    private ByteRanges() {
    }

    /**
     * Decides what a GET with this Range header gets.
     *
     * @param header    the Range field value (not {@code null})
     * @param length    the file's length in bytes
     * @param maxRanges the most range specs accepted in one header
     */
    public static RangeDecision evaluate(String header, long length, int maxRanges) {
        int equals = header.indexOf('=');
        if (equals < 0) {
            return new RangeDecision.Ignore("no '=' after the range unit");
        }
        String unit = header.substring(0, equals).strip();
        if (!unit.equalsIgnoreCase(BYTES_UNIT)) {
            return new RangeDecision.Ignore("range unit '" + unit + "' is not bytes");
        }
        List<String> specs = new ArrayList<>();
        for (String element : header.substring(equals + 1).split(",", -1)) {
            String spec = stripOws(element);
            if (!spec.isEmpty()) {
                // RFC 9110 section 5.6.1: empty list elements are allowed and ignored.
                specs.add(spec);
                if (specs.size() > maxRanges) {
                    return new RangeDecision.NotSatisfiable("more than " + maxRanges + " ranges requested");
                }
            }
        }
        if (specs.isEmpty()) {
            return new RangeDecision.Ignore("empty range set");
        }
        List<ByteRange> satisfiable = new ArrayList<>(specs.size());
        for (String spec : specs) {
            int dash = spec.indexOf('-');
            if (dash < 0) {
                return new RangeDecision.Ignore("range '" + spec + "' has no '-'");
            }
            String firstText = spec.substring(0, dash);
            String lastText = spec.substring(dash + 1);
            if (firstText.isEmpty()) {
                long suffix = parseDigits(lastText);
                if (suffix < 0) {
                    return new RangeDecision.Ignore("suffix range '" + spec + "' is not -DIGITS");
                }
                if (suffix > 0 && length > 0) {
                    satisfiable.add(new ByteRange(length - Math.min(suffix, length), length - 1));
                }
                continue;
            }
            long first = parseDigits(firstText);
            if (first < 0) {
                return new RangeDecision.Ignore("range '" + spec + "' does not start with digits");
            }
            long last;
            if (lastText.isEmpty()) {
                last = Long.MAX_VALUE;
            } else {
                last = parseDigits(lastText);
                if (last < 0) {
                    return new RangeDecision.Ignore("range '" + spec + "' does not end with digits");
                }
                if (last < first) {
                    return new RangeDecision.Ignore("range '" + spec + "' ends before it starts");
                }
            }
            if (first < length) {
                satisfiable.add(new ByteRange(first, Math.min(last, length - 1)));
            }
        }
        if (satisfiable.isEmpty()) {
            return new RangeDecision.NotSatisfiable("no range of '" + header + "' starts inside the "
                    + length + "-byte file");
        }
        return new RangeDecision.Partial(coalesceIfOverlapping(satisfiable));
    }

    /** Merges ranges when any two overlap or touch; otherwise returns them in the client's order. */
    static List<ByteRange> coalesceIfOverlapping(List<ByteRange> ranges) {
        if (ranges.size() < 2) {
            return ranges;
        }
        List<ByteRange> sorted = new ArrayList<>(ranges);
        sorted.sort(Comparator.comparingLong(ByteRange::first));
        boolean overlapping = false;
        for (int i = 1; i < sorted.size() && !overlapping; i++) {
            overlapping = sorted.get(i).first() <= sorted.get(i - 1).last() + 1;
        }
        if (!overlapping) {
            return ranges;
        }
        List<ByteRange> merged = new ArrayList<>();
        ByteRange current = sorted.get(0);
        for (int i = 1; i < sorted.size(); i++) {
            ByteRange next = sorted.get(i);
            if (next.first() <= current.last() + 1) {
                current = new ByteRange(current.first(), Math.max(current.last(), next.last()));
            } else {
                merged.add(current);
                current = next;
            }
        }
        merged.add(current);
        return merged;
    }

    /**
     * The value of a non-empty string of ASCII digits, saturating at {@link Long#MAX_VALUE} (a
     * huge position is valid syntax: it is merely past the end); -1 if it is not all digits.
     */
    private static long parseDigits(String text) {
        if (text.isEmpty()) {
            return -1;
        }
        long value = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            int digit = c - '0';
            value = value > (Long.MAX_VALUE - digit) / 10 ? Long.MAX_VALUE : value * 10 + digit;
        }
        return value;
    }

    /** Strips optional whitespace (SP and HTAB only, RFC 9110 section 5.6.3). */
    private static String stripOws(String text) {
        int start = 0;
        int end = text.length();
        while (start < end && (text.charAt(start) == ' ' || text.charAt(start) == '\t')) {
            start++;
        }
        while (end > start && (text.charAt(end - 1) == ' ' || text.charAt(end - 1) == '\t')) {
            end--;
        }
        return text.substring(start, end);
    }
}
