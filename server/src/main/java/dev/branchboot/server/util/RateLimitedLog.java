package dev.branchboot.server.util;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * A warning that a lasting fault would repeat on every request (a full cache disk, an unwritable
 * directory): logged at WARN at most once per interval, with how many repeats were held back since,
 * and at DEBUG in between, so the log says the fault is still there without flooding.
 */
public final class RateLimitedLog {
    private final Logger log;
    private final long intervalNanos;
    private final java.util.function.LongSupplier clock;
    /** When the last WARN line went out ({@link System#nanoTime()}), or 0 before the first. */
    private final AtomicLong lastWarning = new AtomicLong();
    private final AtomicLong heldBack = new AtomicLong();

    /** Warnings to {@code log}, at most one per {@code interval}. */
    public RateLimitedLog(Logger log, Duration interval) {
        this(log, interval, System::nanoTime);
    }

    /** As {@link #RateLimitedLog(Logger, Duration)}, reading time from {@code clock} (nanoseconds). */
    RateLimitedLog(Logger log, Duration interval, java.util.function.LongSupplier clock) {
        this.log = log;
        this.intervalNanos = interval.toNanos();
        this.clock = clock;
    }

    /** At most one line per 10 seconds, as the README promises for lasting faults. */
    public static RateLimitedLog every10Seconds(Logger log) {
        return new RateLimitedLog(log, Duration.ofSeconds(10));
    }

    /**
     * Logs {@code format} with {@code arguments} (SLF4J placeholders) at WARN if the last WARN line
     * is at least an interval old, else at DEBUG.
     */
    public void warn(String format, Object... arguments) {
        long now = clock.getAsLong();
        long last = lastWarning.get();
        boolean due = (last == 0 || now - last >= intervalNanos) && lastWarning.compareAndSet(last, now == 0 ? 1 : now);
        if (due) {
            long held = heldBack.getAndSet(0);
            log.warn(held == 0 ? format : format + " (and " + held + " more like it since the last such line)", arguments);
        } else {
            heldBack.incrementAndGet();
            log.debug(format, arguments);
        }
    }
}
