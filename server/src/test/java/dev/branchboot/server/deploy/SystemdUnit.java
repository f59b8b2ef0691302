package dev.branchboot.server.deploy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The parts of a systemd unit file a test needs to run its commands as systemd would: the
 * settings of a section, command lines split into words with systemd's quoting, and its variable
 * expansion ({@code $VAR} alone as a word splits into words, {@code ${VAR}} is substituted in
 * place, {@code $$} is a dollar sign). Environment files in systemd's {@code KEY=value} format.
 */
final class SystemdUnit {
    private static final Pattern VARIABLE = Pattern.compile("\\$\\$|\\$\\{(\\w+)}|\\$(\\w+)");

    private final Map<String, List<String>> service = new LinkedHashMap<>();

    private SystemdUnit(String text) {
        String section = "";
        for (String line : text.replaceAll("\\\\\\n", " ").split("\n")) {
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#") || trimmed.startsWith(";")) {
                continue;
            }
            if (trimmed.startsWith("[")) {
                section = trimmed;
                continue;
            }
            int equals = trimmed.indexOf('=');
            if (section.equals("[Service]") && equals > 0) {
                service.computeIfAbsent(trimmed.substring(0, equals).strip(), key -> new ArrayList<>())
                        .add(trimmed.substring(equals + 1).strip());
            }
        }
    }

    static SystemdUnit read(Path file) throws IOException {
        return new SystemdUnit(Files.readString(file));
    }

    /** Every value of a [Service] setting, in order. */
    List<String> values(String key) {
        return service.getOrDefault(key, List.of());
    }

    /** The last value of a [Service] setting, or null. */
    String value(String key) {
        List<String> values = values(key);
        return values.isEmpty() ? null : values.get(values.size() - 1);
    }

    /** The variables of the Environment= lines. */
    Map<String, String> environment() {
        Map<String, String> environment = new LinkedHashMap<>();
        for (String value : values("Environment")) {
            for (String assignment : words(value)) {
                int equals = assignment.indexOf('=');
                environment.put(assignment.substring(0, equals), assignment.substring(equals + 1));
            }
        }
        return environment;
    }

    /** A file of KEY=value lines as systemd's EnvironmentFile= reads it (comments, quotes). */
    static Map<String, String> environmentFile(Path file) throws IOException {
        Map<String, String> environment = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file)) {
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#") || trimmed.startsWith(";")) {
                continue;
            }
            int equals = trimmed.indexOf('=');
            String value = trimmed.substring(equals + 1).strip();
            if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"") || value.startsWith("'") && value.endsWith("'"))) {
                value = value.substring(1, value.length() - 1);
            }
            environment.put(trimmed.substring(0, equals).strip(), value);
        }
        return environment;
    }

    /** A command line (ExecStart=...) as the words systemd runs, its variables expanded from {@code environment}. */
    static List<String> command(String line, Map<String, String> environment) {
        List<String> command = new ArrayList<>();
        for (String word : words(line)) {
            Matcher alone = Pattern.compile("\\$(\\w+)").matcher(word);
            if (alone.matches()) {
                // $VAR as a word of its own: its value split at whitespace, as several words.
                String value = environment.getOrDefault(alone.group(1), "");
                for (String part : value.strip().split("\\s+")) {
                    if (!part.isEmpty()) {
                        command.add(part);
                    }
                }
                continue;
            }
            Matcher variable = VARIABLE.matcher(word);
            StringBuilder expanded = new StringBuilder();
            while (variable.find()) {
                String name = variable.group(1) != null ? variable.group(1) : variable.group(2);
                String replacement = name == null ? "$" : environment.getOrDefault(name, "");
                variable.appendReplacement(expanded, Matcher.quoteReplacement(replacement));
            }
            variable.appendTail(expanded);
            command.add(expanded.toString());
        }
        return command;
    }

    /**
     * Splits at whitespace outside quotes; quotes are removed, variables left for {@link #command}
     * (systemd splits quoted words first and expands after, so {@code $$} inside quotes stays).
     */
    static List<String> words(String line) {
        List<String> words = new ArrayList<>();
        StringBuilder word = null;
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else {
                    word.append(c);
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
                word = word == null ? new StringBuilder() : word;
            } else if (Character.isWhitespace(c)) {
                if (word != null) {
                    words.add(word.toString());
                    word = null;
                }
            } else {
                word = word == null ? new StringBuilder() : word;
                word.append(c);
            }
        }
        if (word != null) {
            words.add(word.toString());
        }
        return words;
    }
}
