package dev.branchboot.server.ipxe;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A network card's 48-bit MAC address, in one canonical form ({@code 52:54:00:12:34:56}: lower case,
 * colons) however it was written. iPXE writes {@code ${netX/mac}} with colons and
 * {@code ${netX/mac:hexhyp}} with hyphens; a Spring property key loses its colons unless it is put in
 * brackets, leaving twelve bare hex digits. All three forms name the same card.
 *
 * @param canonical the address as {@code xx:xx:xx:xx:xx:xx}, lower case
 */
public record MacAddress(String canonical) {
    private static final Pattern COLONS = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final Pattern HYPHENS = Pattern.compile("[0-9a-f]{2}(-[0-9a-f]{2}){5}");
    private static final Pattern BARE = Pattern.compile("[0-9a-f]{12}");

    /** Checks that {@code canonical} is in the canonical form; use {@link #parse} for any other. */
    public MacAddress {
        if (canonical == null || !COLONS.matcher(canonical).matches()) {
            throw new IllegalArgumentException("not a canonical MAC address: " + canonical);
        }
    }

    /**
     * Reads a MAC address written as six hex pairs separated by colons or by hyphens, or as twelve hex
     * digits, in either case.
     *
     * @throws IllegalArgumentException naming what was expected, when {@code text} is none of those
     *                                  (the message never repeats {@code text}, which may be anything a
     *                                  client sent)
     */
    public static MacAddress parse(String text) {
        String lower = text == null ? "" : text.toLowerCase(Locale.ROOT);
        if (COLONS.matcher(lower).matches()) {
            return new MacAddress(lower);
        }
        if (HYPHENS.matcher(lower).matches()) {
            return new MacAddress(lower.replace('-', ':'));
        }
        if (BARE.matcher(lower).matches()) {
            StringBuilder out = new StringBuilder(17);
            for (int i = 0; i < 12; i += 2) {
                if (i > 0) {
                    out.append(':');
                }
                out.append(lower, i, i + 2);
            }
            return new MacAddress(out.toString());
        }
        throw new IllegalArgumentException("a MAC address is six hex pairs separated by ':' or '-' "
                + "(52:54:00:12:34:56, 52-54-00-12-34-56) or twelve hex digits");
    }

    @Override
    public String toString() {
        return canonical;
    }
}
