package dev.branchboot.server.cache;

import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.upstream.UpstreamRevision;
import dev.branchboot.server.util.DisplayUrl;
import dev.branchboot.server.util.RateLimitedLog;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * The branch cache on disk ({@code branchboot.cache.dir}): one {@link CachedRevision} per image
 * revision under {@code revisions/}, keyed by image name and upstream ETag, and under
 * {@code names/} the revision each name last resolved to, so a restart with every upstream down
 * still serves what was cached. The layout's version is in {@code format}; a cache of an earlier
 * version is migrated at start ({@link CacheFormat}), one of a later version refused.
 *
 * <p>A {@code clean-shutdown} marker is written when the server stops in order and removed at
 * start; without it, every revision's present blocks are checked against their checksums before
 * the revision is served ({@link CacheScrubber#ensureVerified}). Presence marks reach disk within
 * a second of their blocks ({@link #persistAll()}).
 */
@BranchMode
@Component
public class CacheDirectory {
    private static final Logger log = LoggerFactory.getLogger(CacheDirectory.class);
    private static final String CLEAN_MARKER = "clean-shutdown";
    /** The longest a stop waits for fetched bytes to reach the disk. */
    private static final java.time.Duration STORE_DRAIN = java.time.Duration.ofSeconds(10);

    private final Path root;
    private final Path revisionsDir;
    private final Path namesDir;
    private final int blockSize;
    private final boolean uncleanStart;
    private final Map<String, CachedRevision> revisions = new ConcurrentHashMap<>();
    /** The names/ index in memory: a request must not read a file to learn what it already knows. */
    private final Map<String, String> currentIds = new ConcurrentHashMap<>();
    private final CacheMetrics metrics;
    private final RateLimitedLog createWarnings = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog persistWarnings = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog nameWarnings = RateLimitedLog.every10Seconds(log);

    /** Opens (or creates) the cache directory, migrating an earlier layout, and loads every revision. */
    public CacheDirectory(BranchbootProperties properties, CacheMetrics metrics, MeterRegistry registry) throws IOException {
        BranchbootProperties.Cache cache = properties.cache();
        this.metrics = metrics;
        this.root = Files.createDirectories(cache.dir()).toRealPath();
        this.blockSize = (int) cache.blockSize().toBytes();
        Path marker = root.resolve(CLEAN_MARKER);
        this.uncleanStart = !Files.exists(marker);
        CacheFormat.prepare(root, blockSize);
        this.revisionsDir = Files.createDirectories(root.resolve("revisions"));
        this.namesDir = Files.createDirectories(root.resolve("names"));
        Files.deleteIfExists(marker);
        CacheFiles.forceDirectory(root);
        List<Path> found = new java.util.ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(revisionsDir)) {
            dirs.forEach(found::add);
        }
        // Listed first: loading may rename a directory, which a stream being read could list again.
        found.forEach(this::load);
        log.info("Branch cache in {}: {} revisions, {} bytes cached, blocks of {} bytes{}", root, revisions.size(),
                cachedBytes(), blockSize, uncleanStart && !revisions.isEmpty()
                        ? "; the last shutdown was not clean, so cached blocks are checked before they are served" : "");
        Gauge.builder("branchboot.cache.cached", this, CacheDirectory::cachedBytes).baseUnit("bytes")
                .description("Bytes of images in the cache").register(registry);
        Gauge.builder("branchboot.cache.revisions", revisions, Map::size)
                .description("Image revisions in the cache").register(registry);
    }

    private void load(Path found) {
        Path dir = found;
        String id = dir.getFileName().toString();
        if (id.endsWith(".tmp")) {
            // A revision whose creation a crash interrupted.
            deleteQuietly(dir);
            return;
        }
        try {
            UpstreamRevision upstream = RevisionProperties.read(dir);
            String expected = idOf(upstream);
            if (!expected.equals(id)) {
                // Named by an earlier branchboot, whose identity left the Content-Location out.
                Path renamed = revisionsDir.resolve(expected);
                if (Files.exists(renamed)) {
                    log.warn("Dropping cached revision {} of image '{}': revision {} holds the same revision", id,
                            upstream.name(), expected);
                    deleteQuietly(dir);
                    return;
                }
                Files.move(dir, renamed, StandardCopyOption.ATOMIC_MOVE);
                log.info("Cached revision {} of image '{}' is now {} (its identity includes its Content-Location {})", id,
                        upstream.name(), expected, upstream.contentLocation());
                dir = renamed;
                id = expected;
            }
            CachedRevision revision;
            try {
                revision = CachedRevision.open(id, upstream, dir, blockSize, !uncleanStart);
            } catch (IOException e) {
                log.warn("Cached revision {} of image '{}': presence unreadable ({}); its blocks will be fetched again",
                        id, upstream.name(), e.getMessage());
                revision = CachedRevision.create(id, upstream, dir, blockSize);
            }
            revisions.put(id, revision);
        } catch (IOException | RuntimeException e) {
            log.warn("Ignoring cache directory {}: {} (remove it to reclaim the space)", dir, e.toString());
        }
    }

    /** The cache directory (real path). */
    public Path root() {
        return root;
    }

    /** The block size of the cache: the unit of presence, checksums and fetch alignment. */
    public int blockSize() {
        return blockSize;
    }

    /**
     * The cached revision for {@code upstream} (created empty when new), recorded as the current
     * revision of its name. When the cache cannot create it (disk full, read-only), a revision
     * that lives in memory only and passes every byte through.
     */
    public CachedRevision revisionFor(UpstreamRevision upstream) {
        String id = idOf(upstream);
        CachedRevision revision;
        try {
            revision = create(id, upstream);
        } catch (UncheckedIOException e) {
            metrics.storeFailures.increment();
            createWarnings.warn("{}: {}; serving image '{}' pass-through from the upstream, uncached. Is the cache disk full?",
                    e.getMessage(), String.valueOf(e.getCause()), upstream.name());
            return CachedRevision.uncached(id, upstream, blockSize);
        }
        rememberCurrent(upstream.name(), id);
        return revision;
    }

    private CachedRevision create(String id, UpstreamRevision upstream) {
        return revisions.computeIfAbsent(id, key -> {
            try {
                Path dir = revisionsDir.resolve(key);
                Path temporary = revisionsDir.resolve(key + ".tmp");
                CacheFiles.deleteRecursively(temporary);
                CacheFiles.deleteRecursively(dir);
                Files.createDirectories(temporary);
                RevisionProperties.write(temporary, upstream);
                Files.move(temporary, dir, StandardCopyOption.ATOMIC_MOVE);
                CachedRevision created = CachedRevision.create(key, upstream, dir, blockSize);
                CacheFiles.forceDirectory(revisionsDir);
                log.info("New cached revision {} of image '{}': ETag {}, {} bytes, from {}", key, upstream.name(),
                        upstream.etag(), upstream.size(), DisplayUrl.of(upstream.upstream()));
                return created;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create cached revision of image '" + upstream.name() + "' ETag "
                        + upstream.etag() + " in " + revisionsDir, e);
            }
        });
    }

    /** The revision the name last resolved to, if it is still cached: for serving with every upstream down. */
    public Optional<CachedRevision> lastKnown(String name) {
        String id = currentIds.computeIfAbsent(name, key -> {
            try {
                return Files.readString(namesDir.resolve(nameKey(key)), StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                return null;
            }
        });
        return id == null ? Optional.empty() : Optional.ofNullable(revisions.get(id));
    }

    /** The cached revision of {@code name} with ETag {@code etag}, if any: for clients pinned to an older revision. */
    public Optional<CachedRevision> find(String name, String etag) {
        return revisions.values().stream().filter(r -> r.upstream().name().equals(name) && r.upstream().etag().equals(etag))
                .max(java.util.Comparator.comparingLong(CachedRevision::lastUsedMillis));
    }

    /** Every cached revision. */
    public List<CachedRevision> revisions() {
        return List.copyOf(revisions.values());
    }

    /** Every cached revision of image {@code name}. */
    public List<CachedRevision> revisionsOf(String name) {
        return revisions.values().stream().filter(r -> r.upstream().name().equals(name)).toList();
    }

    /** Bytes cached over all revisions. */
    public long cachedBytes() {
        long bytes = 0;
        for (CachedRevision revision : revisions.values()) {
            bytes += revision.cachedBytes();
        }
        return bytes;
    }

    /** Whether the server started after an unclean shutdown (revisions are then checked before use). */
    boolean uncleanStart() {
        return uncleanStart;
    }

    /**
     * Removes a whole revision (data, checksums and presence) unless a response or replication
     * uses it.
     *
     * @return false when it is in use and was left alone
     */
    public boolean evict(CachedRevision revision, String reason) {
        if (!revision.markEvicted()) {
            return false;
        }
        revisions.remove(revision.id(), revision);
        long bytes = revision.cachedBytes();
        try {
            revision.close();
            CacheFiles.deleteRecursively(revision.dir());
        } catch (IOException e) {
            log.warn("Evicted revision {} of image '{}' but could not delete {}: {}", revision.id(),
                    revision.upstream().name(), revision.dir(), e.toString());
        }
        metrics.evictions.increment();
        log.info("Evicted image '{}' revision {} ({} bytes cached): {}", revision.upstream().name(),
                revision.upstream().etag(), bytes, reason);
        return true;
    }

    /** Writes the presence of every revision that changed; runs every second. */
    @Scheduled(fixedDelay = 1000, initialDelay = 1000)
    public void persistAll() {
        for (CachedRevision revision : revisions.values()) {
            persist(revision);
        }
    }

    void persist(CachedRevision revision) {
        try {
            revision.persistState();
        } catch (IOException | RuntimeException e) {
            persistWarnings.warn("Cannot write the presence of image '{}' revision {} ({}): {}; retrying every second",
                    revision.upstream().name(), revision.upstream().etag(), revision.dir(), e.toString());
        }
    }

    /**
     * Waits (at most {@link #STORE_DRAIN}) for the fetches whose bytes are still being stored,
     * writes every presence file, closes the files and leaves the clean-shutdown marker.
     */
    @PreDestroy
    public void close() {
        boolean clean = true;
        // A client has its bytes before they are stored: without this wait, a stop right after a cold read loses them.
        CompletableFuture<Void> stores = CompletableFuture.allOf(revisions.values().stream()
                .map(revision -> revision.inFlight.allSettled()).toArray(CompletableFuture[]::new));
        try {
            stores.get(STORE_DRAIN.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            log.warn("Stopping with fetches still being stored after {} s; their blocks will be fetched again",
                    STORE_DRAIN.toSeconds());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            // A settled future never fails.
        }
        for (CachedRevision revision : revisions.values()) {
            try {
                revision.persistState();
                revision.close();
            } catch (IOException e) {
                clean = false;
                log.warn("Cannot close cached revision {} cleanly: {}", revision.id(), e.toString());
            }
        }
        if (clean) {
            try {
                CacheFiles.writeAtomically(root.resolve(CLEAN_MARKER), (Instant.now() + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                log.warn("Cannot write the clean-shutdown marker in {}: {}", root, e.toString());
            }
        }
    }

    private void rememberCurrent(String name, String id) {
        if (id.equals(currentIds.get(name))) {
            return;
        }
        Path file = namesDir.resolve(nameKey(name));
        try {
            // Concurrent first requests for a name each write the same id; unique temporary files keep them apart.
            CacheFiles.writeAtomically(file, (id + "\n").getBytes(StandardCharsets.UTF_8));
            currentIds.put(name, id);
        } catch (IOException e) {
            nameWarnings.warn("Cannot record the current revision of image '{}' in {}: {}", name, namesDir, e.toString());
        }
    }

    /**
     * The directory name of {@code upstream}'s revision: its name, its ETag, its Content-Location
     * (the revision's own file: two files of one length written in one second share nginx's ETag,
     * but not their names) and, when signed, its content digest.
     */
    static String idOf(UpstreamRevision upstream) {
        String identity = upstream.etag();
        if (upstream.contentLocation() != null) {
            identity += "\nlocation " + upstream.contentLocation();
        }
        if (upstream.signedContent() != null) {
            identity += "\n" + upstream.signedContent();
        }
        return idOf(upstream.name(), identity);
    }

    static String idOf(String name, String etag) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((name + "\n" + etag).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String nameKey(String name) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(name.getBytes(StandardCharsets.UTF_8));
    }

    private static void deleteQuietly(Path dir) {
        try {
            CacheFiles.deleteRecursively(dir);
        } catch (IOException e) {
            log.warn("Cannot delete {}: {}", dir, e.toString());
        }
    }
}
