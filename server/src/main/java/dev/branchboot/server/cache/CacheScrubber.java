package dev.branchboot.server.cache;

import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import jakarta.annotation.PreDestroy;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.TaskScheduler;
import org.springframework.stereotype.Component;

/**
 * Checks cached bytes against their checksums, so a disk that rots never serves what it rotted:
 * every revision once after an unclean shutdown, before it is served ({@link #ensureVerified}),
 * and all of them every {@code branchboot.cache.scrub-interval}, paced to
 * {@code branchboot.cache.scrub-rate} so the scrub never competes with serving. A block that fails
 * is dropped (and counted in {@code branchboot_cache_checksum_failures_total}); the next read
 * fetches it again.
 */
@BranchMode
@Component
public class CacheScrubber {
    private static final Logger log = LoggerFactory.getLogger(CacheScrubber.class);
    /** Bytes checked per read of the data file: large enough for sequential disk reads. */
    private static final int STEP = 1 << 20;

    private final CacheDirectory directory;
    private final CacheMetrics metrics;
    private final SignedManifests manifests;
    private final long scrubRate;
    private final Map<String, Object> verifyLocks = new ConcurrentHashMap<>();
    private final ScheduledFuture<?> schedule;
    private volatile boolean closing;

    /** Scrubs {@code directory} on {@code scheduler} as the properties say. */
    public CacheScrubber(CacheDirectory directory, CacheMetrics metrics, SignedManifests manifests, BranchbootProperties properties,
            TaskScheduler scheduler) {
        this.directory = directory;
        this.metrics = metrics;
        this.manifests = manifests;
        this.scrubRate = properties.cache().scrubRate().toBytes();
        Duration interval = properties.cache().scrubInterval();
        this.schedule = interval.isZero() ? null
                : scheduler.scheduleWithFixedDelay(() -> scrub(scrubRate), Instant.now().plus(interval), interval);
    }

    /**
     * Before a revision is served after an unclean shutdown: checks every present block once and
     * drops those that fail. Blocking; call off the event loop.
     */
    public void ensureVerified(CachedRevision revision) {
        if (revision.verified()) {
            return;
        }
        synchronized (verifyLocks.computeIfAbsent(revision.id(), id -> new Object())) {
            if (!revision.verified()) {
                int dropped = verify(revision, 0);
                log.info("Checked cached revision {} of image '{}' after an unclean shutdown: {} blocks dropped",
                        revision.id(), revision.upstream().name(), dropped);
                revision.markVerified();
            }
        }
    }

    /** Checks every present block of every revision and drops those that fail, at full speed. */
    public void scrub() {
        scrub(0);
    }

    private void scrub(long bytesPerSecond) {
        int dropped = 0;
        for (CachedRevision revision : directory.revisions()) {
            if (closing) {
                return;
            }
            dropped += verify(revision, bytesPerSecond);
        }
        if (dropped > 0) {
            log.warn("Cache scrub dropped {} corrupted blocks; they are fetched again when read", dropped);
        } else {
            log.debug("Cache scrub found no corrupted blocks");
        }
    }

    private int verify(CachedRevision revision, long bytesPerSecond) {
        int dropped = 0;
        long start = System.nanoTime();
        long read = 0;
        for (long offset = 0; offset < revision.size() && !closing; offset += STEP) {
            if (bytesPerSecond > 0 && revision.anyPresent(offset, STEP)) {
                read += STEP;
                long waitNanos = start + read * 1_000_000_000L / bytesPerSecond - System.nanoTime();
                if (waitNanos > 0 && !pause(waitNanos)) {
                    break;
                }
            }
            try {
                java.util.List<Long> bad = new java.util.ArrayList<>();
                for (long offsetOfBlock : revision.verify(offset, STEP)) {
                    bad.add(offsetOfBlock);
                }
                bad.addAll(unsigned(revision, offset));
                for (long at : bad) {
                    revision.drop(at);
                }
                for (long at : bad) {
                    dropped++;
                    metrics.checksumFailures.increment();
                    log.warn("Bytes {}-{} of image '{}' revision {} failed their check on disk (checksum{}); dropped, they will be "
                            + "fetched again. Check the cache disk ({}).", at, Math.min(revision.size(), at + revision.blockSize()) - 1,
                            revision.upstream().name(), revision.upstream().etag(),
                            manifests.enabled() ? " or signed manifest" : "", directory.root());
                }
            } catch (IOException e) {
                if (!closing) {
                    log.warn("Cannot check bytes {}.. of image '{}' revision {}: {}", offset, revision.upstream().name(),
                            revision.upstream().etag(), e.toString());
                }
            }
        }
        if (dropped > 0) {
            directory.persist(revision);
        }
        return dropped;
    }

    /**
     * With a trust key: the cached blocks in the step starting at {@code offset} that match their
     * checksum but not the signed manifest (written by something else than this cache, or rotted
     * together with their checksums).
     */
    private java.util.List<Long> unsigned(CachedRevision revision, long offset) throws IOException {
        if (!manifests.enabled() || revision.upstream().signedContent() == null || !revision.anyPresent(offset, STEP)) {
            return java.util.List.of();
        }
        dev.branchboot.integrity.ImageVerifier verifier = manifests.verifier(revision.upstream());
        java.util.List<Long> bad = new java.util.ArrayList<>();
        int block = Math.max(revision.blockSize(), dev.branchboot.integrity.ImageManifest.BLOCK_SIZE);
        for (long at = offset; at < Math.min(revision.size(), offset + STEP); at += block) {
            if (!revision.allPresent(at, Math.min(revision.size(), at + block) - 1)) {
                continue;
            }
            java.nio.ByteBuffer bytes = revision.read(at, (int) (Math.min(revision.size(), at + block) - at));
            try {
                verifier.verify(at, bytes);
            } catch (dev.branchboot.integrity.ManifestException e) {
                bad.add(at);
            }
        }
        return bad;
    }

    private static boolean pause(long nanos) {
        try {
            TimeUnit.NANOSECONDS.sleep(nanos);
            return true;
        } catch (InterruptedException e) {
            // The server is stopping: the next scrub starts over.
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Stops the schedule and any scrub running now. */
    @PreDestroy
    public void close() {
        closing = true;
        if (schedule != null) {
            schedule.cancel(true);
        }
    }
}
