package dev.branchboot.agent.serve;

import dev.branchboot.agent.units.ByteSizes;
import java.nio.file.Path;

/**
 * A {@code --cow} value: {@code none} (read-only export), {@code ram[:SIZE]} (writes kept in at most
 * SIZE bytes of RAM, 1G by default) or {@code file:PATH} (writes kept in a local sparse file).
 *
 * @param kind     which overlay
 * @param ramBytes the RAM budget for {@link Kind#RAM}
 * @param file     the overlay file for {@link Kind#FILE}
 */
public record CowSpec(Kind kind, long ramBytes, Path file) {
    /** The default RAM overlay size. */
    public static final long DEFAULT_RAM = 1L << 30;

    /** The overlay kinds. */
    public enum Kind { NONE, RAM, FILE }

    /**
     * Parses a {@code --cow} value.
     *
     * @throws IllegalArgumentException naming the bad value and the accepted forms
     */
    public static CowSpec parse(String text) {
        if (text.equals("none")) {
            return new CowSpec(Kind.NONE, 0, null);
        }
        if (text.equals("ram")) {
            return new CowSpec(Kind.RAM, DEFAULT_RAM, null);
        }
        if (text.startsWith("ram:")) {
            long size = ByteSizes.parse(text.substring(4));
            if (size < 4096) {
                throw new IllegalArgumentException("the RAM overlay needs at least 4K, not '" + text.substring(4) + "'");
            }
            return new CowSpec(Kind.RAM, size, null);
        }
        if (text.startsWith("file:") && text.length() > 5) {
            return new CowSpec(Kind.FILE, 0, Path.of(text.substring(5)));
        }
        throw new IllegalArgumentException("'" + text + "' is not an overlay (use none, ram, ram:SIZE or file:PATH)");
    }

}
