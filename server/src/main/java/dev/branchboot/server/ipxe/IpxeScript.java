package dev.branchboot.server.ipxe;

import java.util.List;

/**
 * An iPXE script assembled from words that need no escaping, because iPXE has no escaping: it splits
 * a line at white space, expands {@code ${...}} in every word, ends a command at a word {@code ||},
 * {@code &&} or {@code ;}, takes a word starting with {@code #} as the start of a comment and a
 * trailing backslash as a continued line. The Linux kernel then splits its command line at spaces
 * and treats {@code "} as quoting. So a word may hold only characters that mean nothing to either:
 * letters, digits and {@code . _ ~ : / @ = , + % - [ ]}; anything else is refused, never written.
 *
 * <p>Every value of a script passes {@link #requireWord} on its way in (configuration at start-up,
 * the server's own URL from the request before each script), and {@link #line} checks each word
 * again, so a script can never carry text that a request or a setting smuggled into it.
 */
public final class IpxeScript {
    private final StringBuilder text = new StringBuilder("#!ipxe\n");

    /**
     * The first reason {@code word} cannot appear in a script as one word, or {@code null} when it
     * can. The reason names the character and its position, never the rest of the word.
     */
    public static String problemWith(String word) {
        if (word == null || word.isEmpty()) {
            return "it is empty";
        }
        for (int i = 0; i < word.length(); i++) {
            char c = word.charAt(i);
            boolean allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || ".-_~:/@=,+%[]".indexOf(c) >= 0;
            if (!allowed) {
                String shown = c >= 0x21 && c < 0x7f ? "'" + c + "'" : String.format("U+%04X", (int) c);
                return "character " + shown + " at position " + (i + 1)
                        + " is not allowed (only letters, digits and . _ ~ : / @ = , + % - [ ] are: iPXE and the "
                        + "kernel command line have no escaping)";
            }
        }
        return null;
    }

    /**
     * Returns {@code word} when it can appear in a script as one word.
     *
     * @param what names the value for the message, such as {@code "branchboot.boot.profiles.lab.cmdline"}
     * @throws IllegalArgumentException naming {@code what} and the offending character
     */
    public static String requireWord(String word, String what) {
        String problem = problemWith(word);
        if (problem != null) {
            throw new IllegalArgumentException(what + " cannot go into an iPXE script: " + problem);
        }
        return word;
    }

    /**
     * Adds a comment line of words (for whoever reads the script, iPXE skips it).
     *
     * @throws IllegalArgumentException if any word is not a safe word (nothing is added then)
     */
    public IpxeScript comment(List<String> words) {
        for (String word : words) {
            requireWord(word, "a comment word");
        }
        text.append('#');
        for (String word : words) {
            text.append(' ').append(word);
        }
        text.append('\n');
        return this;
    }

    /**
     * Adds one command line: {@code words} joined by single spaces.
     *
     * @throws IllegalArgumentException if any word is not a safe word (nothing is added then)
     */
    public IpxeScript line(List<String> words) {
        if (words.isEmpty()) {
            throw new IllegalArgumentException("an iPXE command needs at least one word");
        }
        for (String word : words) {
            requireWord(word, "a script word");
        }
        text.append(String.join(" ", words)).append('\n');
        return this;
    }

    /** As {@link #line(List)}. */
    public IpxeScript line(String... words) {
        return line(List.of(words));
    }

    /** The script, starting with the {@code #!ipxe} line iPXE recognises scripts by. */
    public String text() {
        return text.toString();
    }

    @Override
    public String toString() {
        return text();
    }
}
