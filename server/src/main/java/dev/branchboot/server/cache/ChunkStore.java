package dev.branchboot.server.cache;

import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.upstream.UpstreamRevision;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * The branch cache on disk ({@code branchboot.cache.dir}): one {@link CachedRevision} per image
 * revision under {@code revisions/}, keyed by image name and upstream ETag, and under
 * {@code names/} the revision each name last resolved to, so a restart with every upstream down
 * still serves what was cached.
 *
 * <p>A {@code clean-shutdown} marker is written when the server stops in order and removed at
 * start; without it, every revision's present chunks are checked against their checksums before
 * the revision is served. A background scrub checks all of them every
 * {@code branchboot.cache.scrub-interval}. A chunk that fails is dropped and fetched again.
 */
@BranchMode
@Component
public class ChunkStore {
    private static final Logger log = LoggerFactory.getLogger(ChunkStore.class);
    private static final String CLEAN_MARKER = "clean-shutdown";
    private static final String META_FILE = "revision.properties";

    private final Path root;
    private final Path revisionsDir;
    private final Path namesDir;
    private final int chunkSize;
    private final boolean uncleanStart;
    private final Map<String, CachedRevision> revisions = new ConcurrentHashMap<>();
    /** The names/ index in memory: a request must not read a file to learn what it already knows. */
    private final Map<String, String> currentIds = new ConcurrentHashMap<>();
    private final ScheduledExecutorService background;
    private final long quota;
    private final long scrubRate;
    private final Counter evictions;
    private volatile boolean quotaWarned;
    private final Counter checksumFailures;
    private final Counter storeFailures;
    /** When a failed revision creation was last logged at WARN (a full disk fails every request). */
    private final java.util.concurrent.atomic.AtomicLong lastCreateWarning = new java.util.concurrent.atomic.AtomicLong();

    /** Opens (or creates) the cache directory and loads every persisted revision. */
    public ChunkStore(BranchbootProperties properties, MeterRegistry registry) throws IOException {
        BranchbootProperties.Cache cache = properties.getCache();
        this.root = Files.createDirectories(cache.getDir()).toRealPath();
        this.revisionsDir = Files.createDirectories(root.resolve("revisions"));
        this.namesDir = Files.createDirectories(root.resolve("names"));
        this.chunkSize = (int) cache.getChunkSize().toBytes();
        this.quota = cache.getQuota().toBytes();
        this.scrubRate = cache.getScrubRate().toBytes();
        Path marker = root.resolve(CLEAN_MARKER);
        this.uncleanStart = !Files.exists(marker);
        Files.deleteIfExists(marker);
        forceDirectory(root);
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(revisionsDir)) {
            for (Path dir : dirs) {
                load(dir);
            }
        }
        log.info("Branch cache in {}: {} revisions, {} bytes cached, chunks of {} bytes{}", root, revisions.size(),
                cachedBytes(), chunkSize, uncleanStart && !revisions.isEmpty()
                        ? "; the last shutdown was not clean, so cached chunks are checked before they are served" : "");
        this.checksumFailures = Counter.builder("branchboot.cache.checksum.failures")
                .description("Cached chunks whose bytes no longer matched their checksum (dropped and refetched)")
                .register(registry);
        this.storeFailures = Counter.builder("branchboot.cache.store.failures")
                .description("Chunks that could not be written to the cache disk (served pass-through)")
                .register(registry);
        Gauge.builder("branchboot.cache.cached", this, ChunkStore::cachedBytes).baseUnit("bytes")
                .description("Bytes of image chunks in the cache").register(registry);
        this.evictions = Counter.builder("branchboot.cache.evictions")
                .description("Whole image revisions removed from the cache (quota or admin)").register(registry);
        Gauge.builder("branchboot.cache.quota", this, store -> store.quota).baseUnit("bytes")
                .description("The cache's disk quota (0: none)").register(registry);
        Gauge.builder("branchboot.cache.revisions", revisions, Map::size)
                .description("Image revisions in the cache").register(registry);
        this.background = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "branchboot-cache-background");
            thread.setDaemon(true);
            return thread;
        });
        // Batched state writes: presence marks reach disk within a second of their chunk's fsync.
        background.scheduleWithFixedDelay(() -> {
            persistAll();
            enforceQuota();
        }, 1, 1, TimeUnit.SECONDS);
        long scrubSeconds = cache.getScrubInterval().toSeconds();
        if (scrubSeconds > 0) {
            background.scheduleWithFixedDelay(this::scheduledScrub, scrubSeconds, scrubSeconds, TimeUnit.SECONDS);
        }
    }

    private void load(Path dir) {
        String id = dir.getFileName().toString();
        try {
            UpstreamRevision upstream = readMeta(dir.resolve(META_FILE));
            CachedRevision revision;
            try {
                revision = CachedRevision.open(id, upstream, dir, !uncleanStart);
            } catch (IOException e) {
                log.warn("Cached revision {} of image '{}': state unreadable ({}); its chunks will be fetched again",
                        id, upstream.name(), e.getMessage());
                revision = CachedRevision.create(id, upstream, dir, chunkSize);
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

    /** The chunk size of new revisions. */
    public int chunkSize() {
        return chunkSize;
    }

    /**
     * The cached revision for {@code upstream} (created empty when new), and records it as the
     * current revision of its name.
     */
    public CachedRevision revisionFor(UpstreamRevision upstream) {
        String id = idOf(upstream.name(), upstream.etag());
        CachedRevision revision;
        try {
            revision = create(id, upstream);
        } catch (UncheckedIOException e) {
            // Keep serving: the revision lives in memory only and every chunk passes through.
            storeFailures.increment();
            long now = System.nanoTime();
            long last = lastCreateWarning.get();
            if ((last == 0 || now - last > 10_000_000_000L) && lastCreateWarning.compareAndSet(last, now)) {
                log.warn("{}: {}; serving image '{}' pass-through from the upstream, uncached. Is the cache disk full? "
                        + "(repeats within 10 s are logged at debug)", e.getMessage(), String.valueOf(e.getCause()),
                        upstream.name());
            } else {
                log.debug("{}; serving image '{}' pass-through", e.getMessage(), upstream.name());
            }
            return CachedRevision.uncached(id, upstream, chunkSize);
        }
        rememberCurrent(upstream.name(), id);
        return revision;
    }

    private CachedRevision create(String id, UpstreamRevision upstream) {
        return revisions.computeIfAbsent(id, key -> {
            try {
                Path dir = revisionsDir.resolve(key);
                Path temporary = revisionsDir.resolve(key + ".tmp");
                deleteRecursively(temporary);
                deleteRecursively(dir);
                Files.createDirectories(temporary);
                writeMeta(temporary.resolve(META_FILE), upstream);
                Files.move(temporary, dir, StandardCopyOption.ATOMIC_MOVE);
                CachedRevision created = CachedRevision.create(key, upstream, dir, chunkSize);
                forceDirectory(revisionsDir);
                log.info("New cached revision {} of image '{}': ETag {}, {} bytes, from {}", key, upstream.name(),
                        upstream.etag(), upstream.size(), upstream.upstream());
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
        return Optional.ofNullable(revisions.get(idOf(name, etag)));
    }

    /** Every cached revision. */
    public List<CachedRevision> revisions() {
        return List.copyOf(revisions.values());
    }

    /** Bytes cached over all revisions. */
    public long cachedBytes() {
        long bytes = 0;
        for (CachedRevision revision : revisions.values()) {
            bytes += revision.cachedBytes();
        }
        return bytes;
    }

    /**
     * Before a revision is served after an unclean shutdown: checks every present chunk once and
     * drops those that fail. Blocking; call off the event loop.
     */
    public void ensureVerified(CachedRevision revision) {
        if (revision.verified()) {
            return;
        }
        synchronized (verifyLock(revision)) {
            if (!revision.verified()) {
                int dropped = verifyAll(revision);
                log.info("Checked cached revision {} of image '{}' after an unclean shutdown: {} chunks dropped",
                        revision.id(), revision.upstream().name(), dropped);
                revision.markVerified();
            }
        }
    }

    private final Map<String, Object> verifyLocks = new ConcurrentHashMap<>();

    private Object verifyLock(CachedRevision revision) {
        return verifyLocks.computeIfAbsent(revision.id(), id -> new Object());
    }

    /** Checks every present chunk of every revision against its checksum and drops those that fail, at full speed. */
    public void scrub() {
        scrub(0);
    }

    /** The periodic scrub, paced to {@code branchboot.cache.scrub-rate}. */
    private void scheduledScrub() {
        scrub(scrubRate);
    }

    private void scrub(long bytesPerSecond) {
        int dropped = 0;
        for (CachedRevision revision : revisions.values()) {
            dropped += verifyAll(revision, bytesPerSecond);
        }
        if (dropped > 0) {
            log.warn("Cache scrub dropped {} corrupted chunks; they are fetched again when read", dropped);
        } else {
            log.debug("Cache scrub found no corrupted chunks");
        }
    }

    private int verifyAll(CachedRevision revision) {
        return verifyAll(revision, 0);
    }

    private int verifyAll(CachedRevision revision, long bytesPerSecond) {
        int dropped = 0;
        long start = System.nanoTime();
        long read = 0;
        for (int chunk = 0; chunk < revision.chunkCount(); chunk++) {
            if (bytesPerSecond > 0 && revision.isPresent(chunk)) {
                read += revision.chunkLength(chunk);
                long waitNanos = start + read * 1_000_000_000L / bytesPerSecond - System.nanoTime();
                if (waitNanos > 0) {
                    try {
                        TimeUnit.NANOSECONDS.sleep(waitNanos);
                    } catch (InterruptedException e) {
                        // The server is stopping: the next scrub starts over.
                        Thread.currentThread().interrupt();
                        return dropped;
                    }
                }
            }
            try {
                if (!revision.verify(chunk)) {
                    dropped++;
                    checksumFailures.increment();
                    log.warn("Chunk {} (bytes {}-{}) of image '{}' revision {} failed its checksum on disk; dropped, "
                            + "it will be fetched again. Check the cache disk ({}).", chunk, revision.chunkOffset(chunk),
                            revision.chunkOffset(chunk) + revision.chunkLength(chunk) - 1, revision.upstream().name(),
                            revision.upstream().etag(), root);
                }
            } catch (IOException e) {
                log.warn("Cannot check chunk {} of image '{}' revision {}: {}", chunk, revision.upstream().name(),
                        revision.upstream().etag(), e.toString());
            }
        }
        if (dropped > 0) {
            persist(revision);
        }
        return dropped;
    }

    /**
     * Removes a whole revision (data and state) unless a response or replication uses it.
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
            deleteRecursively(revision.dir());
        } catch (IOException e) {
            log.warn("Evicted revision {} of image '{}' but could not delete {}: {}", revision.id(),
                    revision.upstream().name(), revision.dir(), e.toString());
        }
        evictions.increment();
        log.info("Evicted image '{}' revision {} ({} bytes cached): {}", revision.upstream().name(),
                revision.upstream().etag(), bytes, reason);
        return true;
    }

    /** Every cached revision of image {@code name}. */
    public List<CachedRevision> revisionsOf(String name) {
        return revisions.values().stream().filter(r -> r.upstream().name().equals(name)).toList();
    }

    /** The quota in bytes, 0 when there is none. */
    public long quota() {
        return quota;
    }

    /**
     * While the cache is over its quota, evicts whole revisions, least recently used first, never
     * one in use.
     */
    public void enforceQuota() {
        if (quota <= 0) {
            return;
        }
        long cached = cachedBytes();
        while (cached > quota) {
            Optional<CachedRevision> oldest = revisions.values().stream().filter(r -> !r.inUse())
                    .min(Comparator.comparingLong(CachedRevision::lastUsedMillis));
            if (oldest.isEmpty()) {
                if (!quotaWarned) {
                    quotaWarned = true;
                    log.warn("Cache holds {} bytes, over its quota of {}, and every revision is in use; "
                            + "raise branchboot.cache.quota or wait for reads to end", cached, quota);
                }
                return;
            }
            evict(oldest.get(), "over the quota of " + quota + " bytes");
            cached = cachedBytes();
        }
        quotaWarned = false;
    }

    /** Counts a chunk that could not be written to the cache disk. */
    void recordStoreFailure() {
        storeFailures.increment();
    }

    private void persistAll() {
        for (CachedRevision revision : revisions.values()) {
            persist(revision);
        }
    }

    private void persist(CachedRevision revision) {
        try {
            revision.persistState();
        } catch (IOException e) {
            log.warn("Cannot write the chunk state of image '{}' revision {} ({}): {}; retrying in a second",
                    revision.upstream().name(), revision.upstream().etag(), revision.dir(), e.toString());
        }
    }

    /** Writes every state file, closes the data files and leaves the clean-shutdown marker. */
    @PreDestroy
    public void close() {
        background.shutdownNow();
        try {
            background.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boolean clean = true;
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
                Files.writeString(root.resolve(CLEAN_MARKER), Instant.now().toString() + "\n");
                forceDirectory(root);
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
            if (Files.exists(file) && Files.readString(file, StandardCharsets.UTF_8).strip().equals(id)) {
                currentIds.put(name, id);
                return;
            }
            Path temporary = namesDir.resolve(nameKey(name) + ".tmp");
            Files.writeString(temporary, id + "\n", StandardCharsets.UTF_8);
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            currentIds.put(name, id);
        } catch (IOException e) {
            log.warn("Cannot record the current revision of image '{}' in {}: {}", name, namesDir, e.toString());
        }
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

    private static void writeMeta(Path file, UpstreamRevision upstream) throws IOException {
        Properties meta = new Properties();
        meta.setProperty("name", upstream.name());
        meta.setProperty("etag", upstream.etag());
        meta.setProperty("etag-synthesized", Boolean.toString(upstream.etagSynthesized()));
        meta.setProperty("size", Long.toString(upstream.size()));
        if (upstream.lastModified() != null) {
            meta.setProperty("last-modified", upstream.lastModified().toString());
        }
        if (upstream.contentLocation() != null) {
            meta.setProperty("content-location", upstream.contentLocation());
        }
        meta.setProperty("upstream", upstream.upstream().toString());
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            meta.store(out, "branchboot cached image revision");
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }

    private static UpstreamRevision readMeta(Path file) throws IOException {
        Properties meta = new Properties();
        try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            meta.load(in);
        }
        String modified = meta.getProperty("last-modified");
        return new UpstreamRevision(required(meta, "name", file), required(meta, "etag", file),
                Boolean.parseBoolean(meta.getProperty("etag-synthesized")), Long.parseLong(required(meta, "size", file)),
                modified == null ? null : Instant.parse(modified), meta.getProperty("content-location"),
                URI.create(required(meta, "upstream", file)));
    }

    private static String required(Properties meta, String key, Path file) throws IOException {
        String value = meta.getProperty(key);
        if (value == null) {
            throw new IOException(file + " lacks '" + key + "'");
        }
        return value;
    }

    /** fsyncs a directory, so a rename or new file in it survives a crash. */
    static void forceDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    private static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
