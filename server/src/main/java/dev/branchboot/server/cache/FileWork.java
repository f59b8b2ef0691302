package dev.branchboot.server.cache;

import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Where the cache's blocking file work runs: on Reactor's bounded elastic threads, but never
 * interrupted. A {@link java.nio.channels.FileChannel} is closed for every user when a thread
 * blocked in it is interrupted, and Reactor interrupts a task on {@code boundedElastic} when the
 * subscriber of the Mono that scheduled it cancels: a client that hangs up in the middle of a read
 * (every load generator at the end of its run) closed a revision's data file under all its
 * readers, and every later read of that revision failed. Tasks here run to their end whoever
 * cancels; their results are then dropped.
 */
public final class FileWork {
    /** The scheduler for file reads, writes and checks of the cache. */
    public static final Scheduler SCHEDULER = Schedulers.fromExecutor(task -> Schedulers.boundedElastic().schedule(task));

    private FileWork() {
    }
}
