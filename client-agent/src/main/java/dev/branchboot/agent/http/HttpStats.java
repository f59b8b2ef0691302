package dev.branchboot.agent.http;

import dev.branchboot.agent.units.ByteSizes;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one agent's HTTP traffic, summarized in the log: how much was fetched, how often a
 * request was retried or moved to another server, and how long requests took.
 */
public final class HttpStats {
    private final LongAdder requests = new LongAdder();
    private final LongAdder bytesFetched = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final LongAdder failovers = new LongAdder();
    private final LongAdder readAheadHits = new LongAdder();
    private final LongAdder readAheadFetched = new LongAdder();
    private final LongAdder readAheadUnused = new LongAdder();
    private final LongAdder latencyNanos = new LongAdder();

    /** Range requests answered successfully. */
    public long requests() {
        return requests.sum();
    }

    /** Body bytes received in successful range responses. */
    public long bytesFetched() {
        return bytesFetched.sum();
    }

    /** Bytes the image reader asked for (read-ahead hits included). */
    public long bytesRead() {
        return bytesRead.sum();
    }

    /** Attempts that failed with a transient fault and were tried again. */
    public long retries() {
        return retries.sum();
    }

    /** Times the agent moved from one server to another. */
    public long failovers() {
        return failovers.sum();
    }

    /** Reads served entirely from the read-ahead window. */
    public long readAheadHits() {
        return readAheadHits.sum();
    }

    /** Total time spent in successful range requests, in seconds. */
    public double latencySeconds() {
        return latencyNanos.sum() / 1e9;
    }

    /** Records a successful range request of {@code bytes} that took {@code nanos}. */
    void fetched(long bytes, long nanos) {
        requests.increment();
        bytesFetched.add(bytes);
        latencyNanos.add(nanos);
    }

    /** Records {@code bytes} handed to the image reader, {@code fromReadAhead} if all came from the window. */
    void read(long bytes, boolean fromReadAhead) {
        bytesRead.add(bytes);
        if (fromReadAhead) {
            readAheadHits.increment();
        }
    }

    /** Records an attempt that failed with a transient fault and will be tried again. */
    /** Bytes fetched by read-ahead windows, read or not. */
    public long readAheadFetched() {
        return readAheadFetched.sum();
    }

    /** Bytes read-ahead windows fetched that no read used before the window was let go. */
    public long readAheadUnused() {
        return readAheadUnused.sum();
    }

    void readAheadFetched(long bytes) {
        readAheadFetched.add(bytes);
    }

    void readAheadUnused(long bytes) {
        readAheadUnused.add(bytes);
    }

    void retried() {
        retries.increment();
    }

    /** Records a move from one server to another. */
    void failedOver() {
        failovers.increment();
    }

    /** One line for the log. */
    public String summary() {
        long n = requests();
        return String.format(java.util.Locale.ROOT,
                "read %s, fetched %s in %d requests (mean latency %.1f ms), %d read-ahead hits, %d retries, %d failovers",
                ByteSizes.format(bytesRead()), ByteSizes.format(bytesFetched()), n,
                n == 0 ? 0.0 : latencyNanos.sum() / 1e6 / n, readAheadHits(), retries(), failovers());
    }
}
