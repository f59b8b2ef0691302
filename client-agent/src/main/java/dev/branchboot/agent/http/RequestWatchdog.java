package dev.branchboot.agent.http;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * Ends the requests of one {@link Http11Client} that run past their deadline, by the clock: it
 * closes their connection, so the blocked read or write fails at once however the server sends
 * (one byte a second resets a socket's read timeout with every byte; under TLS one read waits for
 * a whole record). One daemon thread looks at the requests in progress every tenth of the timeout
 * (10 to 200 ms), so a request ends at most that much after its deadline; it sleeps while no
 * request is in progress. Watching a request costs two set operations, no thread hand-off.
 */
final class RequestWatchdog implements AutoCloseable {
    private static final long SHORTEST_TICK = Duration.ofMillis(10).toNanos();
    private static final long LONGEST_TICK = Duration.ofMillis(200).toNanos();

    private final Set<Http11Client.Connection> busy = ConcurrentHashMap.newKeySet();
    private final long tickNanos;
    private final Thread thread;
    private volatile boolean parked;
    private volatile boolean closed;

    /** A watchdog for requests that take at most {@code timeout}: it looks every tenth of that. */
    RequestWatchdog(Duration timeout) {
        this.tickNanos = Math.max(SHORTEST_TICK, Math.min(LONGEST_TICK, timeout.toNanos() / 10));
        this.thread = new Thread(this::run, "http-deadline");
        thread.setDaemon(true);
        thread.start();
    }

    /** Watches {@code c}'s request, which must be over by {@code deadlineNanos} ({@link System#nanoTime()}). */
    void watch(Http11Client.Connection c, long deadlineNanos) {
        c.deadlineNanos = deadlineNanos;
        busy.add(c);
        if (parked) {
            LockSupport.unpark(thread);
        }
    }

    /**
     * The request on {@code c} is over. False when the watchdog got there first: it has closed
     * the connection, or is closing it, because the deadline passed.
     */
    boolean release(Http11Client.Connection c) {
        return busy.remove(c);
    }

    private void run() {
        while (!closed) {
            if (busy.isEmpty()) {
                parked = true;
                // watch() adds before it looks at parked; this looks at busy after setting it.
                if (busy.isEmpty() && !closed) {
                    LockSupport.park(this);
                }
                parked = false;
                continue;
            }
            LockSupport.parkNanos(this, tickNanos);
            long now = System.nanoTime();
            for (Http11Client.Connection c : busy) {
                if (now - c.deadlineNanos >= 0 && busy.remove(c)) {
                    c.expire();
                }
            }
        }
    }

    /** Stops the thread; requests still in progress are no longer ended at their deadline. */
    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
    }
}
