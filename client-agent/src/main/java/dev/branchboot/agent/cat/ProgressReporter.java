package dev.branchboot.agent.cat;

import dev.branchboot.agent.units.ByteSizes;
import java.io.PrintWriter;
import java.util.Locale;

/** Shows how far a long copy has come, on one self-overwriting line, at most five times a second. */
class ProgressReporter {
    static final ProgressReporter NONE = new ProgressReporter(null);

    private final PrintWriter out;
    private long lastPrint;
    private boolean printed;

    ProgressReporter(PrintWriter out) {
        this.out = out;
    }

    synchronized void update(long done, long total) {
        if (out == null) {
            return;
        }
        long now = System.nanoTime();
        if (printed && done < total && now - lastPrint < 200_000_000L) {
            return;
        }
        lastPrint = now;
        printed = true;
        double percent = total == 0 ? 100 : 100.0 * done / total;
        out.printf(Locale.ROOT, "\r    (%.2f/100%%) %s of %s   ", percent, ByteSizes.format(done), ByteSizes.format(total));
        out.flush();
    }

    synchronized void finish() {
        if (out != null && printed) {
            out.println();
            out.flush();
        }
    }
}
