package dev.branchboot.agent.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * What a subcommand accepts: its positional parameters and options, with the help text for each.
 * Every command also accepts {@code -h}/{@code --help}.
 */
public final class CommandSpec {

    /** An option: its names ("-o", "--output"), the label of its value (null for a flag), its help. */
    public record OptionSpec(List<String> names, String label, String help, boolean repeatable) {
        /** The longest name, used as the key of its value. */
        public String key() {
            return names.get(names.size() - 1);
        }
    }

    /** A positional parameter. */
    public record Positional(String label, String help, boolean required) {
    }

    private final String name;
    private final List<String> description;
    private final List<Positional> positionals = new ArrayList<>();
    private final List<OptionSpec> options = new ArrayList<>();

    /** A command named {@code name}; {@code description} lines head its help. */
    public CommandSpec(String name, String... description) {
        this.name = name;
        this.description = List.of(description);
        options.add(new OptionSpec(List.of("-h", "--help"), null, "Show this help and exit.", false));
    }

    /** Adds a required positional parameter. */
    public CommandSpec positional(String label, String help) {
        positionals.add(new Positional(label, help, true));
        return this;
    }

    /** Adds an optional positional parameter (after the required ones). */
    public CommandSpec optionalPositional(String label, String help) {
        positionals.add(new Positional(label, help, false));
        return this;
    }

    /** Adds an option that takes a value; {@code names} like "-o, --output". */
    public CommandSpec option(String names, String label, String help) {
        options.add(new OptionSpec(List.of(names.split(",\\s*")), label, help, false));
        return this;
    }

    /** Adds an option that takes a value and may be given several times. */
    public CommandSpec repeatableOption(String names, String label, String help) {
        options.add(new OptionSpec(List.of(names.split(",\\s*")), label, help, true));
        return this;
    }

    /** Adds an on/off flag. */
    public CommandSpec flag(String names, String help) {
        options.add(new OptionSpec(List.of(names.split(",\\s*")), null, help, false));
        return this;
    }

    /** The command's name. */
    public String name() {
        return name;
    }

    /** The command's description lines. */
    public List<String> description() {
        return description;
    }

    List<Positional> positionals() {
        return positionals;
    }

    OptionSpec find(String optionName) {
        for (OptionSpec option : options) {
            if (option.names().contains(optionName)) {
                return option;
            }
        }
        return null;
    }

    /** Parses {@code args} (the words after the command name). */
    public ParsedArguments parse(String[] args) throws UsageException {
        return ParsedArguments.parse(this, args);
    }

    /** The help text: usage line, description, parameters and options. */
    public String help(String program) {
        StringBuilder out = new StringBuilder("Usage: ").append(program).append(' ').append(name).append(" [OPTIONS]");
        for (Positional p : positionals) {
            out.append(' ').append(p.required() ? p.label() : "[" + p.label() + "]");
        }
        out.append("\n");
        for (String line : description) {
            out.append(line).append('\n');
        }
        List<String[]> rows = new ArrayList<>();
        for (Positional p : positionals) {
            rows.add(new String[] {p.label(), p.help()});
        }
        for (OptionSpec o : options) {
            String names = String.join(", ", o.names()) + (o.label() == null ? "" : "=" + o.label());
            if (o.names().size() == 1 && o.names().get(0).startsWith("--")) {
                names = "    " + names;
            }
            rows.add(new String[] {names, o.help() + (o.repeatable() ? " May be given more than once." : "")});
        }
        int width = 0;
        for (String[] row : rows) {
            width = Math.max(width, row[0].length());
        }
        width = Math.min(width, 30);
        out.append('\n');
        for (String[] row : rows) {
            String left = "  " + row[0];
            String pad = " ".repeat(Math.max(2, width + 4 - left.length()));
            if (left.length() > width + 2) {
                out.append(left).append('\n').append(" ".repeat(width + 4));
            } else {
                out.append(left).append(pad);
            }
            out.append(wrap(row[1], width + 4)).append('\n');
        }
        return out.toString();
    }

    private static String wrap(String text, int indent) {
        int limit = Math.max(40, 100 - indent);
        StringBuilder out = new StringBuilder();
        int column = 0;
        for (String word : text.split(" ")) {
            if (column > 0 && column + 1 + word.length() > limit) {
                out.append('\n').append(" ".repeat(indent));
                column = 0;
            } else if (column > 0) {
                out.append(' ');
                column++;
            }
            out.append(word);
            column += word.length();
        }
        return out.toString();
    }
}
