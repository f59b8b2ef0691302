package dev.branchboot.server.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code branchboot.*} settings the server knows, as listed in the configuration metadata the
 * build generates from {@link BranchbootProperties} (the same list IDEs complete from), the
 * environment variables that set them, and how near an unknown name is to one of them: what the
 * reports of a misspelt setting ({@link UnknownSettingFailureAnalyzer}) and of a misspelt variable
 * ({@link EnvironmentVariableCheck}) suggest instead.
 */
final class KnownSettings {
    private static final String METADATA = "META-INF/spring-configuration-metadata.json";
    private static final Pattern NAME = Pattern.compile("\"name\"\\s*:\\s*\"(branchboot\\.[^\"]+)\"");

    private KnownSettings() {
    }

    /**
     * Every known setting and group, such as {@code branchboot.cache.block-size}; empty when the
     * metadata is missing (a report then names the unknown setting without a suggestion).
     */
    static List<String> names() {
        List<String> names = new ArrayList<>();
        try (InputStream in = KnownSettings.class.getClassLoader().getResourceAsStream(METADATA)) {
            if (in != null) {
                Matcher matcher = NAME.matcher(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                while (matcher.find()) {
                    if (!names.contains(matcher.group(1))) {
                        names.add(matcher.group(1));
                    }
                }
            }
        } catch (IOException e) {
            // Without the list a report still names the unknown setting, only without a suggestion.
        }
        return names;
    }

    /**
     * The environment variables Spring Boot binds to {@code setting}: its canonical form, dashes
     * dropped ({@code BRANCHBOOT_CACHE_BLOCKSIZE}), first, then the legacy one with dashes as
     * underscores ({@code BRANCHBOOT_CACHE_BLOCK_SIZE}), which Boot accepts too.
     */
    static List<String> variables(String setting) {
        String upper = setting.toUpperCase(Locale.ROOT).replace('.', '_');
        String canonical = upper.replace("-", "");
        String legacy = upper.replace('-', '_');
        return canonical.equals(legacy) ? List.of(canonical) : List.of(canonical, legacy);
    }

    /** The known name nearest to {@code name} by edit distance, or {@code null} when none is near. */
    static String closest(String name, List<String> known) {
        return known.stream().min(Comparator.comparingInt(k -> distance(name, k)))
                .filter(k -> distance(name, k) <= Math.max(3, name.length() / 3)).orElse(null);
    }

    /** Levenshtein distance, with '.' and '-' (both separators of relaxed names) costing half. */
    static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = 2 * j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = 2 * i;
            for (int j = 1; j <= b.length(); j++) {
                char x = a.charAt(i - 1);
                char y = b.charAt(j - 1);
                int substitute = x == y ? 0 : isSeparator(x) && isSeparator(y) ? 1 : 2;
                current[j] = Math.min(Math.min(previous[j] + 2, current[j - 1] + 2), previous[j - 1] + substitute);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()] / 2;
    }

    private static boolean isSeparator(char c) {
        return c == '.' || c == '-';
    }
}
