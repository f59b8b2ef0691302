package dev.branchboot.agent.cli;

import dev.branchboot.agent.units.ByteSizes;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The values of one parsed command line, with typed accessors that turn bad values into usage errors. */
public final class ParsedArguments {
    private final Map<String, List<String>> values = new HashMap<>();
    private final List<String> positionals = new ArrayList<>();
    private boolean help;

    private ParsedArguments() {
    }

    static ParsedArguments parse(CommandSpec spec, String[] args) throws UsageException {
        ParsedArguments parsed = new ParsedArguments();
        boolean optionsEnded = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!optionsEnded && arg.equals("--")) {
                optionsEnded = true;
            } else if (!optionsEnded && arg.startsWith("-") && arg.length() > 1) {
                String name = arg;
                String inline = null;
                int equals = arg.indexOf('=');
                if (arg.startsWith("--") && equals > 0) {
                    name = arg.substring(0, equals);
                    inline = arg.substring(equals + 1);
                }
                CommandSpec.OptionSpec option = spec.find(name);
                if (option == null) {
                    throw new UsageException("Unknown option: '" + name + "'");
                }
                if (option.key().equals("--help")) {
                    parsed.help = true;
                    continue;
                }
                if (option.label() == null) {
                    if (inline != null) {
                        throw new UsageException("Option '" + name + "' takes no value");
                    }
                    parsed.values.put(option.key(), List.of("true"));
                    continue;
                }
                String value = inline;
                if (value == null) {
                    if (i + 1 >= args.length) {
                        throw new UsageException("Missing value for option '" + name + "' (" + option.label() + ")");
                    }
                    value = args[++i];
                }
                List<String> list = parsed.values.computeIfAbsent(option.key(), k -> new ArrayList<>());
                if (!option.repeatable() && !list.isEmpty()) {
                    throw new UsageException("Option '" + name + "' given more than once");
                }
                list.add(value);
            } else {
                parsed.positionals.add(arg);
            }
        }
        if (parsed.help) {
            return parsed;
        }
        List<CommandSpec.Positional> expected = spec.positionals();
        if (parsed.positionals.size() > expected.size()) {
            throw new UsageException("Unexpected argument '" + parsed.positionals.get(expected.size()) + "'");
        }
        for (int i = parsed.positionals.size(); i < expected.size(); i++) {
            if (expected.get(i).required()) {
                throw new UsageException("Missing required parameter: '" + expected.get(i).label() + "'");
            }
        }
        return parsed;
    }

    /**
     * A copy of these arguments in which option {@code key} (its longest name) has {@code value}
     * unless it was given: lets a command run another one with its own defaults.
     */
    public ParsedArguments withDefault(String key, String value) {
        ParsedArguments copy = new ParsedArguments();
        copy.values.putAll(values);
        copy.positionals.addAll(positionals);
        copy.help = help;
        copy.values.putIfAbsent(key, List.of(value));
        return copy;
    }

    /** True when {@code --help} was given. */
    public boolean helpRequested() {
        return help;
    }

    /** The positional parameter at {@code index}, or {@code null}. */
    public String positional(int index) {
        return index < positionals.size() ? positionals.get(index) : null;
    }

    /** The value of option {@code key} (its longest name), or {@code fallback}. */
    public String string(String key, String fallback) {
        List<String> list = values.get(key);
        return list == null ? fallback : list.get(0);
    }

    /** Every value of a repeatable option, in order. */
    public List<String> strings(String key) {
        return values.getOrDefault(key, List.of());
    }

    /** True when the flag {@code key} was given. */
    public boolean flag(String key) {
        return values.containsKey(key);
    }

    /** The option's value as a path, or {@code null}. */
    public Path path(String key) throws UsageException {
        String value = string(key, null);
        if (value == null) {
            return null;
        }
        if (value.isEmpty() || value.indexOf('\0') >= 0) {
            throw new UsageException("Option '" + key + "' needs a file name");
        }
        return Path.of(value);
    }

    /** The option's value as a whole number in {@code [min, max]}. */
    public int integer(String key, int fallback, int min, int max) throws UsageException {
        String value = string(key, null);
        if (value == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n < min || n > max) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException("Option '" + key + "' must be a whole number from " + min + " to " + max + ", not '" + value + "'");
        }
    }

    /**
     * The option's value as a duration: a number with a unit ({@code 250ms}, {@code 30s},
     * {@code 5m}, {@code 1h}; a bare number is seconds), in {@code [min, max]}.
     */
    public java.time.Duration duration(String key, java.time.Duration fallback, java.time.Duration min, java.time.Duration max)
            throws UsageException {
        String value = string(key, null);
        if (value == null) {
            return fallback;
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d{1,9})(ms|s|m|h)?").matcher(value.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new UsageException("Option '" + key + "' must be a duration such as 500ms, 30s, 5m or 1h, not '" + value + "'");
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "s" : m.group(2);
        java.time.Duration d = switch (unit) {
            case "ms" -> java.time.Duration.ofMillis(n);
            case "m" -> java.time.Duration.ofMinutes(n);
            case "h" -> java.time.Duration.ofHours(n);
            default -> java.time.Duration.ofSeconds(n);
        };
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw new UsageException("Option '" + key + "' must be from " + min.toMillis() + " ms to " + max.toSeconds() + " s");
        }
        return d;
    }

    /** The option's value as a byte size ({@code 64K}, {@code 1G}) in {@code [min, max]}. */
    public long size(String key, long fallback, long min, long max) throws UsageException {
        String value = string(key, null);
        if (value == null) {
            return fallback;
        }
        long n;
        try {
            n = ByteSizes.parse(value);
        } catch (IllegalArgumentException e) {
            throw new UsageException("Option '" + key + "': " + e.getMessage());
        }
        if (n < min || n > max) {
            throw new UsageException("Option '" + key + "' must be from " + ByteSizes.format(min) + " to " + ByteSizes.format(max));
        }
        return n;
    }

    /** The option's value as one of an enum's constants, matched without regard to case. */
    public <E extends Enum<E>> E choice(String key, Class<E> type, E fallback) throws UsageException {
        String value = string(key, null);
        if (value == null) {
            return fallback;
        }
        List<String> names = new ArrayList<>();
        for (E constant : type.getEnumConstants()) {
            names.add(constant.name().toLowerCase(Locale.ROOT));
            if (constant.name().equalsIgnoreCase(value.trim())) {
                return constant;
            }
        }
        throw new UsageException("Option '" + key + "' must be one of " + String.join(", ", names) + ", not '" + value + "'");
    }
}
