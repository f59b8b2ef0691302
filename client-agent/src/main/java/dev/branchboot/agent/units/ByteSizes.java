package dev.branchboot.agent.units;

import java.util.Locale;

/** Parses and prints byte sizes the way admins write them: {@code 512}, {@code 64K}, {@code 1.5GiB}. */
public final class ByteSizes {
    private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    private ByteSizes() {
    }

    /**
     * Parses a size with an optional binary suffix (K, M, G, T with optional "iB" or "B"; all mean
     * powers of 1024).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static long parse(String text) {
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("B")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = 0;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'K' -> shift = 10;
                case 'M' -> shift = 20;
                case 'G' -> shift = 30;
                case 'T' -> shift = 40;
                default -> shift = 0;
            }
            if (shift != 0) {
                s = s.substring(0, s.length() - 1);
            }
        }
        try {
            double value = Double.parseDouble(s);
            double bytes = value * (1L << shift);
            if (s.isEmpty() || value < 0 || Double.isNaN(value) || bytes >= Long.MAX_VALUE || s.contains("E") || s.contains("N")) {
                throw new NumberFormatException();
            }
            return (long) bytes;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a size (examples: 4096, 64K, 256M, 1.5G)");
        }
    }

    /** Prints {@code bytes} in the largest binary unit that keeps it at least 1, e.g. "1.5 GiB". */
    public static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        int unit = 0;
        double value = bytes;
        while (value >= 1024 && unit < UNITS.length - 1) {
            value /= 1024;
            unit++;
        }
        return threeDigits(value) + " " + UNITS[unit];
    }

    /**
     * {@code value} (1 to 1024) with three significant digits, or as a whole number when it is one:
     * "1.50", "23.4", "233", "1000". Not {@code String.format}: its first use costs a booting PC's
     * agent tens of milliseconds, and its "%.3g" prints 1000 and up as "1.00e+03".
     */
    private static String threeDigits(double value) {
        if (value == Math.rint(value)) {
            return String.valueOf((long) value);
        }
        int decimals = value >= 100 ? 0 : value >= 10 ? 1 : 2;
        long scaled = Math.round(value * POWERS_OF_TEN[decimals]);
        while (decimals > 0 && scaled >= 1000) { // 9.996 rounds to 10.0, not 10.00
            decimals--;
            scaled = Math.round(value * POWERS_OF_TEN[decimals]);
        }
        if (decimals == 0) {
            return String.valueOf(scaled);
        }
        String fraction = String.valueOf(scaled % POWERS_OF_TEN[decimals]);
        return scaled / POWERS_OF_TEN[decimals] + "." + "0".repeat(decimals - fraction.length()) + fraction;
    }

    private static final long[] POWERS_OF_TEN = {1, 10, 100};

}
