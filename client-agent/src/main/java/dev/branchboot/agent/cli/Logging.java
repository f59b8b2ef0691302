package dev.branchboot.agent.cli;

import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * java.util.logging set up for a long-running command: one line per event on standard error,
 * "branchboot-agent: LEVEL: message", which journald and an operator's terminal both read well.
 */
public final class Logging {
    private Logging() {
    }

    /** Routes all logging to standard error; {@code verbose} adds per-connection detail. */
    public static void configure(boolean verbose) {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        Level level = verbose ? Level.FINE : Level.INFO;
        ConsoleHandler handler = new ConsoleHandler();
        handler.setLevel(level);
        handler.setFormatter(new Formatter() {
            @Override
            public String format(LogRecord r) {
                StringBuilder line = new StringBuilder("branchboot-agent: ").append(r.getLevel().getName()).append(": ")
                        .append(formatMessage(r)).append(System.lineSeparator());
                if (r.getThrown() != null && (verbose || System.getenv("BRANCHBOOT_DEBUG") != null)) {
                    java.io.StringWriter trace = new java.io.StringWriter();
                    r.getThrown().printStackTrace(new java.io.PrintWriter(trace));
                    line.append(trace);
                }
                return line.toString();
            }
        });
        root.addHandler(handler);
        root.setLevel(level);
        Logger.getLogger("dev.branchboot").setLevel(level);
    }
}
