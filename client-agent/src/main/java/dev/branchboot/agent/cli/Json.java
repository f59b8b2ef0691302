package dev.branchboot.agent.cli;

import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Writes maps, lists, strings, numbers and booleans as indented JSON, the small subset the
 * agent's machine-readable output needs.
 */
public final class Json {
    private Json() {
    }

    /** The JSON text of {@code value}, indented by four spaces per level as {@code qemu-img} does. */
    public static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, int depth) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String s) {
            string(out, s);
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else if (value instanceof Map<?, ?> map) {
            container(out, map.entrySet().iterator(), depth, '{', '}', (entry, d) -> {
                Map.Entry<?, ?> e = (Map.Entry<?, ?>) entry;
                string(out, String.valueOf(e.getKey()));
                out.append(": ");
                write(out, e.getValue(), d);
            });
        } else if (value instanceof List<?> list) {
            container(out, list.iterator(), depth, '[', ']', (item, d) -> write(out, item, d));
        } else {
            throw new IllegalArgumentException("cannot write " + value.getClass() + " as JSON");
        }
    }

    private interface ItemWriter {
        void write(Object item, int depth);
    }

    private static void container(StringBuilder out, Iterator<?> items, int depth, char open, char close, ItemWriter writer) {
        out.append(open);
        if (!items.hasNext()) {
            out.append(close);
            return;
        }
        out.append('\n');
        while (items.hasNext()) {
            out.append("    ".repeat(depth + 1));
            writer.write(items.next(), depth + 1);
            out.append(items.hasNext() ? ",\n" : "\n");
        }
        out.append("    ".repeat(depth)).append(close);
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
