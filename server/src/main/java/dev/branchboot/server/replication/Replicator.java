package dev.branchboot.server.replication;

import dev.branchboot.server.branch.RevisionResolver;
import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.ChunkLoader;
import dev.branchboot.server.cache.ChunkStore;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.scheduling.support.CronExpression;
import org.springframework.stereotype.Component;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Replicates whole images into the cache in the background, one chunk after another at
 * {@code branchboot.replication.rate}, through the same single-flight loader as reads (so a read
 * and the replication never fetch a chunk twice). Started by the images list and its schedule, by
 * the admin endpoint, or by an image's first read when enabled. The names being replicated are kept
 * in {@code cache.dir/replications}, so a restart resumes them: only missing chunks are fetched.
 */
@BranchMode
@Component
public class Replicator {
    private static final Logger log = LoggerFactory.getLogger(Replicator.class);

    /** What a replication is doing. */
    public enum State {
        /** Fetching the missing chunks. */
        RUNNING,
        /** Every chunk of the current revision is cached. */
        COMPLETE,
        /** Stopped by the admin endpoint. */
        STOPPED,
        /** Gave up on an error (logged); the next trigger tries again. */
        FAILED
    }

    /** A replication's state and the revision it is about. */
    public record Status(State state, String etag, long cachedBytes, long size) {
    }

    private final RevisionResolver resolver;
    private final ChunkStore store;
    private final ChunkLoader loader;
    private final MeterRegistry registry;
    private final long rate;
    private final List<String> configured;
    private final String schedule;
    private final Path stateFile;
    private final Map<String, Disposable> running = new ConcurrentHashMap<>();
    private final Map<String, Status> statuses = new ConcurrentHashMap<>();
    private final Set<String> gauged = ConcurrentHashMap.newKeySet();
    /** Set while the server stops: jobs ended by the shutdown stay recorded, to resume at the next start. */
    private volatile boolean closing;
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(runnable -> {
        Thread thread = new Thread(runnable, "branchboot-replication-schedule");
        thread.setDaemon(true);
        return thread;
    });

    /** Replicates through {@code loader} into {@code store} as {@code properties} say. */
    public Replicator(RevisionResolver resolver, ChunkStore store, ChunkLoader loader, BranchbootProperties properties,
            MeterRegistry registry) {
        this.resolver = resolver;
        this.store = store;
        this.loader = loader;
        this.registry = registry;
        this.rate = properties.getReplication().getRate().toBytes();
        this.configured = List.copyOf(properties.getReplication().getImages());
        this.schedule = properties.getReplication().getSchedule();
        this.stateFile = store.root().resolve("replications");
    }

    /** Once the server is up: resumes the replications that were running, then the configured list, and arms the schedule. */
    @EventListener(ApplicationReadyEvent.class)
    public void resume() {
        Set<String> names = new LinkedHashSet<>(persisted());
        names.addAll(configured);
        for (String name : names) {
            start(name, "start-up (resumed or configured)");
        }
        if (schedule != null && !schedule.isBlank()) {
            scheduleNext(CronExpression.parse(schedule));
        }
    }

    private void scheduleNext(CronExpression cron) {
        LocalDateTime now = LocalDateTime.now();
        LocalDateTime next = cron.next(now);
        if (next == null) {
            return;
        }
        scheduler.schedule(() -> {
            for (String name : configured) {
                start(name, "schedule '" + schedule + "'");
            }
            scheduleNext(cron);
        }, Duration.between(now, next).toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Starts replicating image {@code name} unless it is already running.
     *
     * @return false when it was already running
     */
    public boolean start(String name, String trigger) {
        if (running.containsKey(name)) {
            return false;
        }
        Disposable[] holder = new Disposable[1];
        Mono<Void> job = resolver.current(name).flatMap(revision -> replicate(name, revision))
                .doOnError(e -> {
                    statuses.compute(name, (key, old) -> new Status(State.FAILED, old == null ? null : old.etag(),
                            old == null ? 0 : old.cachedBytes(), old == null ? 0 : old.size()));
                    log.warn("Replication of image '{}' failed: {}; the next trigger tries again", name, e.getMessage());
                })
                .doFinally(signal -> {
                    running.remove(name, holder[0]);
                    if (!closing) {
                        persist();
                    }
                });
        synchronized (running) {
            if (running.containsKey(name)) {
                return false;
            }
            statuses.put(name, new Status(State.RUNNING, null, 0, 0));
            holder[0] = Mono.defer(() -> job).subscribe(v -> { }, e -> { });
            if (!holder[0].isDisposed()) {
                running.put(name, holder[0]);
            }
        }
        persist();
        registerGauge(name);
        log.info("Replication of image '{}' started by {} at {} bytes/s", name, trigger, rate == 0 ? "unlimited" : rate);
        return true;
    }

    /**
     * Stops replicating image {@code name}; the chunks fetched so far stay cached.
     *
     * @return false when it was not running
     */
    public boolean stop(String name) {
        Disposable job = running.remove(name);
        if (job == null) {
            return false;
        }
        job.dispose();
        statuses.computeIfPresent(name, (key, old) -> new Status(State.STOPPED, old.etag(), old.cachedBytes(), old.size()));
        persist();
        log.info("Replication of image '{}' stopped by the admin endpoint", name);
        return true;
    }

    /** The replication state of image {@code name}, or {@code null} when none was ever started. */
    public Status status(String name) {
        return statuses.get(name);
    }

    private Mono<Void> replicate(String name, CachedRevision revision) {
        if (!revision.acquire()) {
            return Mono.error(new IllegalStateException("revision " + revision.upstream().etag() + " was just evicted"));
        }
        long size = revision.upstream().size();
        String etag = revision.upstream().etag();
        long startNanos = System.nanoTime();
        long[] fetched = {0};
        int[] lastDecile = {(int) (revision.cachedBytes() * 10 / Math.max(1, size))};
        return Flux.range(0, revision.chunkCount())
                .filter(chunk -> !revision.isPresent(chunk))
                .concatMap(chunk -> loader.load(revision, chunk).flatMap(bytes -> {
                    fetched[0] += bytes.length;
                    long cached = revision.cachedBytes();
                    statuses.put(name, new Status(State.RUNNING, etag, cached, size));
                    int decile = (int) (cached * 10 / Math.max(1, size));
                    if (decile > lastDecile[0]) {
                        lastDecile[0] = decile;
                        log.info("Replication of image '{}' revision {}: {}% ({} of {} bytes)", name, etag, decile * 10,
                                cached, size);
                    }
                    if (rate <= 0) {
                        return Mono.empty();
                    }
                    // Pace by total bytes since the start, so short bursts even out.
                    long dueNanos = startNanos + fetched[0] * 1_000_000_000L / rate;
                    long waitNanos = dueNanos - System.nanoTime();
                    return waitNanos > 0 ? Mono.delay(Duration.ofNanos(waitNanos)).then() : Mono.<Void>empty();
                }), 1)
                .then(Mono.fromRunnable(() -> {
                    statuses.put(name, new Status(State.COMPLETE, etag, revision.cachedBytes(), size));
                    log.info("Replication of image '{}' revision {} complete: {} bytes cached", name, etag, size);
                }))
                .doFinally(signal -> revision.release())
                .then();
    }

    private void registerGauge(String name) {
        if (gauged.add(name)) {
            Gauge.builder("branchboot.replication.progress", this, r -> {
                Status status = r.statuses.get(name);
                return status == null || status.size() == 0 ? 0 : (double) status.cachedBytes() / status.size();
            }).tag("image", name).description("Fraction of the image's current revision cached by its replication")
                    .register(registry);
        }
    }

    private List<String> persisted() {
        try {
            return Files.exists(stateFile) ? Files.readAllLines(stateFile, StandardCharsets.UTF_8).stream()
                    .filter(line -> !line.isBlank()).toList() : List.of();
        } catch (IOException e) {
            log.warn("Cannot read the replications to resume from {}: {}", stateFile, e.toString());
            return List.of();
        }
    }

    private synchronized void persist() {
        Set<String> names = new TreeSet<>(running.keySet());
        Path temporary = stateFile.resolveSibling("replications.tmp");
        try {
            Files.write(temporary, new ArrayList<>(names), StandardCharsets.UTF_8);
            Files.move(temporary, stateFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            log.warn("Cannot record the running replications in {}: {} (they will not resume after a restart)",
                    stateFile, e.toString());
        }
    }

    /**
     * Stops the schedule and the running replications as soon as the server begins to stop (before
     * its network resources wind down); they stay recorded and resume at the next start.
     */
    @EventListener(ContextClosedEvent.class)
    public void onClose() {
        close();
    }

    /** Same as {@link #onClose()}, for a context destroyed without a close event. */
    @PreDestroy
    public void close() {
        closing = true;
        scheduler.shutdownNow();
        // Keep the file as it is: what runs now must resume after the restart.
        for (Disposable job : List.copyOf(running.values())) {
            job.dispose();
        }
    }
}
