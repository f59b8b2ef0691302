package dev.branchboot.agent.http;

import java.time.Duration;

/**
 * How the agent talks to its image servers.
 *
 * @param requestTimeout  the longest one HTTP request may take, by the clock, from connecting to
 *                        the last byte of its body, before it counts as a transient fault and is
 *                        retried (a server that trickles its answer is cut off too)
 * @param retryDeadline   how long one read keeps retrying transient faults (across all servers)
 *                        before the error reaches the caller: no attempt starts after it, so a
 *                        read ends within it plus one request timeout; long, because for a root
 *                        disk an error is a crash while a stall is only a pause
 * @param probeInterval   how often a server that failed is probed in the background
 * @param recoverAfter    consecutive good probes before a failed server is used again, so that a
 *                        server that answers now and then during a boot storm does not win traffic
 *                        back and lose it again (flapping)
 * @param readAheadMax    the largest read-ahead window for sequential access; 0 turns it off
 */
public record HttpSettings(Duration requestTimeout, Duration retryDeadline, Duration probeInterval, int recoverAfter,
                           int readAheadMax) {

    /** 30 s per request, 5 min of retries, probes every 2 s, 3 good probes to recover, 4 MiB read-ahead. */
    public static final HttpSettings DEFAULTS = new HttpSettings(Duration.ofSeconds(30), Duration.ofMinutes(5),
            Duration.ofSeconds(2), 3, 4 << 20);

    /** Validates the values. */
    public HttpSettings {
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("the request timeout must be positive");
        }
        if (retryDeadline.isNegative()) {
            throw new IllegalArgumentException("the retry deadline must not be negative");
        }
        if (probeInterval.isNegative() || probeInterval.isZero()) {
            throw new IllegalArgumentException("the probe interval must be positive");
        }
        if (recoverAfter < 1) {
            throw new IllegalArgumentException("recoverAfter must be at least 1");
        }
        if (readAheadMax < 0 || readAheadMax > (64 << 20)) {
            throw new IllegalArgumentException("read-ahead must be between 0 and 64 MiB");
        }
    }

    /** A copy with other timeouts. */
    public HttpSettings withTimeouts(Duration request, Duration deadline) {
        return new HttpSettings(request, deadline, probeInterval, recoverAfter, readAheadMax);
    }

    /** A copy with another probe interval. */
    public HttpSettings withProbeInterval(Duration interval) {
        return new HttpSettings(requestTimeout, retryDeadline, interval, recoverAfter, readAheadMax);
    }

    /** A copy with another read-ahead limit. */
    public HttpSettings withReadAheadMax(int bytes) {
        return new HttpSettings(requestTimeout, retryDeadline, probeInterval, recoverAfter, bytes);
    }
}
