package dev.branchboot.server.config;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.boot.context.properties.bind.UnboundConfigurationPropertiesException;
import org.springframework.boot.context.properties.source.ConfigurationProperty;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * Turns an unknown {@code branchboot.*} setting into a start-up report that names it, where it
 * came from, and the known setting closest to it ({@code branchboot.cache-dir}: did you mean
 * {@code branchboot.cache.dir}?). The known settings are those in the configuration metadata the
 * build generates from {@link BranchbootProperties}, the same list IDEs complete from.
 */
public class UnknownSettingFailureAnalyzer extends AbstractFailureAnalyzer<UnboundConfigurationPropertiesException> {
    private static final String METADATA = "META-INF/spring-configuration-metadata.json";
    private static final Pattern NAME = Pattern.compile("\"name\"\\s*:\\s*\"(branchboot\\.[^\"]+)\"");

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, UnboundConfigurationPropertiesException cause) {
        List<String> known = knownSettings();
        StringBuilder description = new StringBuilder("Unknown setting");
        description.append(cause.getUnboundProperties().size() > 1 ? "s:" : ":");
        for (ConfigurationProperty property : cause.getUnboundProperties()) {
            String name = property.getName().toString();
            description.append("\n    ").append(name);
            if (property.getOrigin() != null) {
                description.append(" (from ").append(property.getOrigin()).append(")");
            }
            String closest = closest(name, known);
            if (closest != null) {
                description.append(": did you mean ").append(closest).append("?");
            }
        }
        return new FailureAnalysis(description.toString(), "Correct or remove it. Every branchboot.* setting is listed in "
                + "README.md; the server does not start with one it does not know, so a misspelling never leaves a default "
                + "quietly in force.", cause);
    }

    /** The known setting nearest to {@code name} by edit distance, or {@code null} when none is near. */
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

    private static List<String> knownSettings() {
        List<String> names = new ArrayList<>();
        try (InputStream in = UnknownSettingFailureAnalyzer.class.getClassLoader().getResourceAsStream(METADATA)) {
            if (in != null) {
                Matcher matcher = NAME.matcher(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
                while (matcher.find()) {
                    if (!names.contains(matcher.group(1))) {
                        names.add(matcher.group(1));
                    }
                }
            }
        } catch (IOException e) {
            // Without the list the report still names the unknown setting, only without a suggestion.
        }
        return names;
    }
}
