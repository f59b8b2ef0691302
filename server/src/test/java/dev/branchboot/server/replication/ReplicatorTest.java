package dev.branchboot.server.replication;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.cache.CacheFiller;
import dev.branchboot.server.cache.CacheMetrics;
import dev.branchboot.server.cache.CacheScrubber;
import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.RevisionResolver;
import dev.branchboot.server.cache.SignedManifests;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.replication.Replicator.State;
import dev.branchboot.server.replication.Replicator.Status;
import dev.branchboot.server.testing.TestProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ScheduledFuture;
import java.util.function.Predicate;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.Trigger;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.scheduling.support.CronTrigger;

/**
 * Whole-image replication, built by hand as the branch wires it (a {@code file:} upstream, the
 * cache directory, the filler, the resolver) and driven by its own methods instead of a running
 * server. Proves that a replication leaves every block present with the origin's bytes, that a
 * complete revision is not fetched again, that a replication cut short by a shutdown or failed
 * part-way fetches only the missing blocks when it runs again, that a rate means one fetch at a
 * time with the next held back until the bytes so far are due (asserted in bytes, at a rate so
 * low that the next fetch never comes during the test), that the configured list and its cron
 * schedule start replications, and that an unknown image fails with a log line naming it.
 *
 * <p>{@code replication.on-first-read} is not the replicator's: the branch's image handler calls
 * {@link Replicator#start} on a first read (BranchAdminTest covers it through a server).
 */
class ReplicatorTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int BLOCK = 4096;
    private static final int FETCH = 64 * 1024;
    private static final int SIZE = 1_000_000; // not a multiple of a block: the last one is short
    private static final int FETCHES = (SIZE + FETCH - 1) / FETCH;

    @TempDir
    Path temp;
    private byte[] image;
    private Path origin;
    private final List<Branch> branches = new ArrayList<>();
    private final List<ThreadPoolTaskScheduler> schedulers = new ArrayList<>();
    private final ListAppender<ILoggingEvent> log = new ListAppender<>();

    @BeforeEach
    void createOrigin() throws IOException {
        image = new byte[SIZE];
        new Random(18).nextBytes(image);
        origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), image);
        log.start();
        ((Logger) LoggerFactory.getLogger(Replicator.class)).addAppender(log);
    }

    @AfterEach
    void stop() {
        ((Logger) LoggerFactory.getLogger(Replicator.class)).detachAppender(log);
        for (Branch branch : branches) {
            branch.close();
        }
        for (ThreadPoolTaskScheduler scheduler : schedulers) {
            scheduler.shutdown();
        }
    }

    /** The branch's parts over one cache directory, wired as the Spring context wires them. */
    private record Branch(SimpleMeterRegistry registry, CacheDirectory directory, CacheFiller filler, RevisionResolver resolver,
            Replicator replicator) {
        /** As the server stops: the replicator first, then the directory writes its presence. */
        void close() {
            replicator.close();
            directory.close();
        }

        Path stateFile() {
            return directory.root().resolve("replications");
        }

        double fills() {
            return registry.get("branchboot.cache.fills").counter().count();
        }

        double upstreamBytes() {
            var counter = registry.find("branchboot.upstream").counter();
            return counter == null ? 0 : counter.count();
        }

        CachedRevision revision(String name) {
            return directory.lastKnown(name).orElseThrow();
        }
    }

    private Branch open(ThreadPoolTaskScheduler scheduler, String... settings) throws IOException {
        Map<String, String> all = new LinkedHashMap<>();
        all.put("upstreams", origin.toUri().toString());
        all.put("cache.dir", temp.resolve("cache").toString());
        all.put("cache.block-size", BLOCK + "B");
        all.put("cache.fetch-size", FETCH + "B");
        all.put("cache.retry-backoff", "1ms");
        // The scrub would only compete for the test's two cores.
        all.put("cache.scrub-interval", "0s");
        // One answer per name for the whole test, so a removed origin file fails fetches, not the look-up.
        all.put("cache.revalidate-interval", "1h");
        for (int i = 0; i < settings.length; i += 2) {
            all.put(settings[i], settings[i + 1]);
        }
        BranchbootProperties properties = TestProperties.of(all);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CacheMetrics metrics = new CacheMetrics(registry);
        UpstreamClient upstreams = new UpstreamClient(properties, registry);
        SignedManifests manifests = new SignedManifests(properties, upstreams, registry);
        CacheDirectory directory = new CacheDirectory(properties, metrics, registry);
        CacheScrubber scrubber = new CacheScrubber(directory, metrics, manifests, properties, scheduler);
        CacheFiller filler = new CacheFiller(upstreams, manifests, metrics, properties);
        RevisionResolver resolver = new RevisionResolver(upstreams, directory, scrubber, manifests, properties);
        Replicator replicator = new Replicator(resolver, directory, filler, properties, scheduler, registry);
        Branch branch = new Branch(registry, directory, filler, resolver, replicator);
        branches.add(branch);
        return branch;
    }

    private Branch open(String... settings) throws IOException {
        return open(scheduler(new ThreadPoolTaskScheduler()), settings);
    }

    private ThreadPoolTaskScheduler scheduler(ThreadPoolTaskScheduler scheduler) {
        scheduler.setThreadNamePrefix("replicator-test-");
        scheduler.initialize();
        schedulers.add(scheduler);
        return scheduler;
    }

    /** Waits until the status of {@code name} satisfies {@code condition}, and returns it. */
    private static Status await(Branch branch, String name, Predicate<Status> condition) {
        Awaitility.await("the replication of " + name).atMost(WAIT).until(() -> {
            Status status = branch.replicator().status(name);
            return status != null && condition.test(status);
        });
        return branch.replicator().status(name);
    }

    /**
     * Waits until the replication of {@code name} that {@code start} began is over: not running,
     * and no longer recorded as running in the state file, which happens after its last status.
     */
    private static Status awaitEnd(Branch branch, String name) {
        Awaitility.await("the replication of " + name + " to end").atMost(WAIT).until(() -> {
            Status status = branch.replicator().status(name);
            return status != null && status.state() != State.RUNNING && !stateFileNames(branch).contains(name);
        });
        return branch.replicator().status(name);
    }

    private static List<String> stateFileNames(Branch branch) throws IOException {
        return Files.exists(branch.stateFile()) ? Files.readAllLines(branch.stateFile()) : List.of();
    }

    private List<String> logLines() {
        return log.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void aReplicationMakesEveryBlockPresentWithTheOriginsBytesAndASecondOneFetchesNothing() throws IOException {
        Branch branch = open("replication.rate", "0");

        assertTrue(branch.replicator().start("disk.raw", "the test"));
        Status status = awaitEnd(branch, "disk.raw");

        CachedRevision revision = branch.revision("disk.raw");
        assertEquals(new Status(State.COMPLETE, revision.upstream().etag(), SIZE, SIZE), status);
        assertTrue(revision.complete());
        assertEquals(245, revision.presentBlocks(), "244 whole blocks and the short last one");
        assertEquals(SIZE, revision.cachedBytes());
        assertArrayEquals(image, Files.readAllBytes(revision.dataFile()), "the cached bytes are the origin's, byte for byte");
        assertEquals(FETCHES, branch.fills(), "one fetch per fetch-size window");
        assertEquals(SIZE, branch.upstreamBytes(), "each byte crossed the uplink once");
        assertEquals(1.0, branch.registry().get("branchboot.replication.progress").tag("image", "disk.raw").gauge().value());
        assertFalse(revision.inUse(), "the replication let go of the revision");
        assertEquals(List.of(), stateFileNames(branch), "nothing left to resume");

        assertTrue(branch.replicator().start("disk.raw", "the test, again"));
        assertEquals(new Status(State.COMPLETE, revision.upstream().etag(), SIZE, SIZE), awaitEnd(branch, "disk.raw"));
        assertEquals(FETCHES, branch.fills(), "a complete revision is not fetched again");
        assertEquals(SIZE, branch.upstreamBytes());
    }

    @Test
    void aRateAllowsOneFetchAtATimeAndHoldsTheNextBackUntilItsBytesAreDue() throws IOException {
        // At 1 byte/s the second window is due after 65,536 s: the test sees the first and no other.
        Branch branch = open("replication.rate", "1B");

        assertTrue(branch.replicator().start("disk.raw", "the test"));
        Status status = await(branch, "disk.raw", s -> s.cachedBytes() > 0);

        CachedRevision revision = branch.revision("disk.raw");
        assertEquals(new Status(State.RUNNING, revision.upstream().etag(), FETCH, SIZE), status);
        assertEquals(1, branch.fills());
        assertEquals(FETCH, branch.upstreamBytes());
        assertTrue(revision.allPresent(0, FETCH - 1));
        assertFalse(revision.isPresent(FETCH));
        assertEquals((double) FETCH / SIZE,
                branch.registry().get("branchboot.replication.progress").tag("image", "disk.raw").gauge().value());
        assertFalse(branch.replicator().start("disk.raw", "a second trigger"), "already running");
        assertTrue(revision.inUse());
        assertFalse(branch.directory().evict(revision, "the test"), "a running replication keeps its revision from eviction");
        assertEquals(List.of("disk.raw"), stateFileNames(branch));

        assertTrue(branch.replicator().stop("disk.raw"));

        assertEquals(new Status(State.STOPPED, revision.upstream().etag(), FETCH, SIZE), branch.replicator().status("disk.raw"));
        assertFalse(branch.replicator().stop("disk.raw"), "not running any more");
        assertEquals(List.of(), stateFileNames(branch), "stopped by the admin, so not resumed at the next start");
        Awaitility.await("the stopped replication to let go of the revision").atMost(WAIT).until(() -> !revision.inUse());
        assertEquals(FETCH, revision.cachedBytes(), "what was fetched stays cached");
        assertEquals(1, branch.fills());
    }

    @Test
    void aReplicationCutShortByAShutdownResumesAtTheNextStartFetchingOnlyTheMissingBlocks() throws IOException {
        Branch before = open("replication.rate", "1B");
        assertTrue(before.replicator().start("disk.raw", "the test"));
        await(before, "disk.raw", s -> s.cachedBytes() > 0);
        String etag = before.revision("disk.raw").upstream().etag();
        before.close();
        branches.remove(before);
        assertEquals(List.of("disk.raw"), stateFileNames(before), "recorded as running when the server stopped");

        Branch after = open("replication.rate", "0");
        assertEquals(FETCH, after.revision("disk.raw").cachedBytes());
        after.replicator().resume();
        Status status = awaitEnd(after, "disk.raw");

        assertEquals(new Status(State.COMPLETE, etag, SIZE, SIZE), status);
        assertEquals(SIZE - FETCH, after.upstreamBytes(), "only what the first run had not fetched");
        assertEquals(FETCHES - 1, after.fills());
        assertArrayEquals(image, Files.readAllBytes(after.revision("disk.raw").dataFile()));
        assertTrue(logLines().contains("Replication of image 'disk.raw' started by start-up (resumed or configured) at "
                + "unlimited bytes/s"), logLines().toString());
    }

    @Test
    void aReplicationThatFailedPartWayFetchesOnlyWhatIsMissingWhenStartedAgain() throws IOException {
        // One fetch at a time: when the replication fails, no other fetch of it is still running to be joined later.
        Branch branch = open("replication.rate", "0", "cache.read-ahead", "1");
        CachedRevision revision = branch.resolver().current("disk.raw").block(WAIT);
        // A read cached the first window, then the origin's file went away (an NFS mount failing).
        assertEquals(FETCH, branch.filler().fill(revision, 0, FETCH).block(WAIT));
        Path aside = Files.move(origin.resolve("disk.raw"), temp.resolve("disk.raw"));

        assertTrue(branch.replicator().start("disk.raw", "the test"));
        Status failed = awaitEnd(branch, "disk.raw");

        assertEquals(State.FAILED, failed.state());
        assertEquals(FETCH, revision.cachedBytes(), "what was cached stays");
        assertEquals(FETCH, branch.upstreamBytes());
        String warning = logLines().stream().filter(line -> line.startsWith("Replication of image 'disk.raw' failed: "))
                .findFirst().orElseThrow(() -> new AssertionError(logLines()));
        assertTrue(warning.contains("image 'disk.raw' not found") && warning.contains("NOT_FOUND")
                && warning.endsWith("; the next trigger tries again"), warning);
        assertEquals(List.of(), stateFileNames(branch), "a failed replication waits for the next trigger, not a restart");

        Files.move(aside, origin.resolve("disk.raw")); // the same file, so the same revision
        assertTrue(branch.replicator().start("disk.raw", "the test, again"));
        Status complete = awaitEnd(branch, "disk.raw");

        assertEquals(new Status(State.COMPLETE, revision.upstream().etag(), SIZE, SIZE), complete);
        assertEquals(SIZE, branch.upstreamBytes(), "each byte crossed the uplink once over both runs");
        assertArrayEquals(image, Files.readAllBytes(revision.dataFile()));
    }

    @Test
    void anImageNoUpstreamHasFailsWithALogLineNamingIt() throws IOException {
        Branch branch = open("replication.rate", "0");

        assertTrue(branch.replicator().start("missing.raw", "the test"));
        Status status = awaitEnd(branch, "missing.raw");

        assertEquals(new Status(State.FAILED, null, 0, 0), status);
        String warning = logLines().stream().filter(line -> line.startsWith("Replication of image 'missing.raw' failed: "))
                .findFirst().orElseThrow(() -> new AssertionError(logLines()));
        assertTrue(warning.startsWith("Replication of image 'missing.raw' failed: image 'missing.raw' not found: "), warning);
        assertTrue(warning.contains("[upstream " + origin.toUri() + ", NOT_FOUND]"), warning);
        assertEquals(List.of(), branch.directory().revisionsOf("missing.raw"), "nothing created in the cache");
        assertEquals(0, branch.fills());
        assertEquals(0.0, branch.registry().get("branchboot.replication.progress").tag("image", "missing.raw").gauge().value());
    }

    @Test
    void theConfiguredImagesStartWithTheServerAndAgainOnTheirCronSchedule() throws IOException {
        List<Runnable> tasks = new ArrayList<>();
        List<Trigger> triggers = new ArrayList<>();
        List<ScheduledFuture<?>> futures = new ArrayList<>();
        // Records what the replicator schedules, so the test runs the task instead of waiting for the clock.
        ThreadPoolTaskScheduler recording = scheduler(new ThreadPoolTaskScheduler() {
            @Override
            public ScheduledFuture<?> schedule(Runnable task, Trigger trigger) {
                tasks.add(task);
                triggers.add(trigger);
                ScheduledFuture<?> future = super.schedule(task, trigger);
                futures.add(future);
                return future;
            }
        });
        String yearly = "0 0 0 1 1 *";
        Branch branch = open(recording, "replication.rate", "0", "replication.images", "disk.raw",
                "replication.schedule", yearly);

        branch.replicator().resume();
        assertEquals(State.COMPLETE, awaitEnd(branch, "disk.raw").state());
        assertEquals(FETCHES, branch.fills());

        assertEquals(1, triggers.size());
        assertEquals(yearly, assertInstanceOf(CronTrigger.class, triggers.get(0)).getExpression());
        tasks.get(0).run();
        assertEquals(State.COMPLETE, awaitEnd(branch, "disk.raw").state());
        assertTrue(logLines().contains("Replication of image 'disk.raw' started by schedule '" + yearly + "' at unlimited bytes/s"),
                logLines().toString());
        assertEquals(FETCHES, branch.fills(), "complete already: the scheduled run fetched nothing");

        branch.replicator().close();
        assertNotNull(futures.get(0));
        assertTrue(futures.get(0).isCancelled(), "the schedule ends with the replicator");
    }
}
