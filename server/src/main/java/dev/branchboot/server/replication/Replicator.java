package dev.branchboot.server.replication;

import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.cache.CacheFiller;
import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.RevisionResolver;
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
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.scheduling.TaskScheduler;
import org.springframework.scheduling.support.CronTrigger;
import org.springframework.stereotype.Component;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Replicates whole images into the cache in the background, streaming the missing blocks in
 * fetches of {@code branchboot.cache.fetch-size} (read-ahead of them at once) paced to
 * {@code branchboot.replication.rate}, through the same {@link CacheFiller} as reads, so a read and
 * the replication never fetch a byte twice. Started by the images list and its schedule (a cron
 * trigger on Spring's task scheduler), by the admin endpoint, or by an image's first read when
 * enabled. The names being replicated are kept in {@code cache.dir/replications}, so a restart
 * resumes them: only missing blocks are fetched.
 */
@BranchMode
@Component
public class Replicator {
    private static final Logger log = LoggerFactory.getLogger(Replicator.class);

    /** What a replication is doing. */
    public enum State {
        /** Fetching the missing blocks. */
        RUNNING,
        /** Every block of the current revision is cached. */
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
    private final CacheFiller filler;
    private final TaskScheduler scheduler;
    private final MeterRegistry registry;
    private final long rate;
    private final int inFlight;
    private final List<String> configured;
    private final String schedule;
    private final Path stateFile;
    private final Map<String, Disposable> running = new ConcurrentHashMap<>();
    private final Map<String, Status> statuses = new ConcurrentHashMap<>();
    private final Set<String> gauged = ConcurrentHashMap.newKeySet();
    /** Set while the server stops: jobs ended by the shutdown stay recorded, to resume at the next start. */
    private volatile boolean closing;
    private volatile ScheduledFuture<?> scheduled;

    /** Replicates through {@code filler} into {@code directory} as {@code properties} say, scheduled on {@code scheduler}. */
    public Replicator(RevisionResolver resolver, CacheDirectory directory, CacheFiller filler, BranchbootProperties properties,
            TaskScheduler scheduler, MeterRegistry registry) {
        this.resolver = resolver;
        this.filler = filler;
        this.scheduler = scheduler;
        this.registry = registry;
        this.rate = properties.replication().rate().toBytes();
        // Paced, one fetch at a time is enough and a restart re-sends at most one; unpaced, as many as a long read keeps.
        this.inFlight = rate > 0 ? 1 : properties.cache().readAhead();
        this.configured = List.copyOf(properties.replication().images());
        this.schedule = properties.replication().schedule();
        this.stateFile = directory.root().resolve("replications");
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
            scheduled = scheduler.schedule(() -> {
                for (String name : configured) {
                    start(name, "schedule '" + schedule + "'");
                }
            }, new CronTrigger(schedule));
        }
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
                    // Under the lock start() holds from subscribing to recording the job: a job that ends
                    // on another thread in between must not leave its entry behind.
                    synchronized (running) {
                        running.remove(name, holder[0]);
                    }
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
        long size = revision.size();
        String etag = revision.upstream().etag();
        long window = filler.fetchSize();
        long startNanos = System.nanoTime();
        long[] fetched = {0};
        int[] lastDecile = {(int) (revision.cachedBytes() * 10 / Math.max(1, size))};
        return Flux.range(0, (int) ((size + window - 1) / window))
                .filter(i -> !revision.allPresent(i * window, Math.min(size, (i + 1) * window) - 1))
                .flatMapSequential(i -> filler.fill(revision, i * window, Math.min(size, (i + 1) * window)).flatMap(bytes -> {
                    long dueNanos;
                    synchronized (fetched) {
                        fetched[0] += bytes;
                        dueNanos = rate <= 0 ? 0 : startNanos + fetched[0] * 1_000_000_000L / rate;
                    }
                    long cached = revision.cachedBytes();
                    statuses.put(name, new Status(State.RUNNING, etag, cached, size));
                    int decile = (int) (cached * 10 / Math.max(1, size));
                    if (decile > lastDecile[0]) {
                        lastDecile[0] = decile;
                        log.info("Replication of image '{}' revision {}: {}% ({} of {} bytes)", name, etag, decile * 10,
                                cached, size);
                    }
                    // Paced by total bytes since the start, so short bursts even out.
                    long waitNanos = dueNanos - System.nanoTime();
                    return rate > 0 && waitNanos > 0 ? Mono.delay(Duration.ofNanos(waitNanos)).then() : Mono.<Void>empty();
                }), inFlight, 1)
                .then(Mono.defer(() -> {
                    if (!revision.complete()) {
                        return Mono.error(new IllegalStateException("fetched every block of revision " + etag + " but "
                                + (size - revision.cachedBytes()) + " bytes could not be stored (is the cache disk full?)"));
                    }
                    statuses.put(name, new Status(State.COMPLETE, etag, revision.cachedBytes(), size));
                    log.info("Replication of image '{}' revision {} complete: {} bytes cached", name, etag, size);
                    return Mono.<Void>empty();
                }))
                .doFinally(signal -> revision.release());
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
        ScheduledFuture<?> cron = scheduled;
        if (cron != null) {
            cron.cancel(false);
        }
        // Keep the file as it is: what runs now must resume after the restart.
        for (Disposable job : List.copyOf(running.values())) {
            job.dispose();
        }
    }
}
