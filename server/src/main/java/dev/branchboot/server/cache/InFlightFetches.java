package dev.branchboot.server.cache;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * The upstream fetches of one revision that are running now, as non-overlapping spans of the
 * image, so that a reader joins any fetch that covers its bytes, whatever range it was started
 * for. A fetch stays here from the moment it is planned until its bytes are marked present (or
 * it failed): a reader arriving in between joins it instead of fetching the bytes again.
 * Guarded by its own monitor; {@link CacheFiller} holds it while it plans.
 */
final class InFlightFetches {
    /** One span being fetched, its bytes once they arrived, and when it left the registry. */
    static final class Fetch {
        final long start;
        final long end;
        /** The bytes {@code start..end-1}, or the upstream failure; never cancelled. */
        final CompletableFuture<byte[]> bytes = new CompletableFuture<>();
        /** Completes when the fetch is over: its bytes stored and present, or not stored (failed). */
        final CompletableFuture<Void> settled = new CompletableFuture<>();

        Fetch(long start, long end) {
            this.start = start;
            this.end = end;
        }

        int length() {
            return (int) (end - start);
        }

        @Override
        public String toString() {
            return start + ".." + (end - 1);
        }
    }

    private final TreeMap<Long, Fetch> byStart = new TreeMap<>();

    /** The fetch covering byte {@code offset}, or {@code null}. Call with the monitor held. */
    Fetch covering(long offset) {
        Map.Entry<Long, Fetch> entry = byStart.floorEntry(offset);
        return entry != null && entry.getValue().end > offset ? entry.getValue() : null;
    }

    /** Where the first fetch starting after {@code offset} starts, or {@code Long.MAX_VALUE}. Call with the monitor held. */
    long nextStart(long offset) {
        Long next = byStart.higherKey(offset);
        return next == null ? Long.MAX_VALUE : next;
    }

    /** Registers a new fetch; it must not overlap another. Call with the monitor held. */
    void add(Fetch fetch) {
        byStart.put(fetch.start, fetch);
    }

    /** Removes {@code fetch} when it is over. */
    synchronized void remove(Fetch fetch) {
        byStart.remove(fetch.start, fetch);
    }

    /** Completes when every fetch running now is over (stored, or failed). */
    synchronized CompletableFuture<Void> allSettled() {
        return CompletableFuture.allOf(byStart.values().stream().map(fetch -> fetch.settled).toArray(CompletableFuture[]::new));
    }

    /** How many fetches are running. */
    synchronized int size() {
        return byStart.size();
    }
}
