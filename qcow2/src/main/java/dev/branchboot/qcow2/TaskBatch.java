package dev.branchboot.qcow2;

import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs a batch of independent tasks on the calling thread, with idle executor threads helping.
 *
 * <p>The caller takes tasks from the batch itself and helpers take the rest, so the caller never
 * waits for a helper that has not started: when the executor is busy, the caller simply does all
 * the work, as it would without an executor. It waits only for tasks a helper has already begun.
 * This keeps a lone sequential reader (a booting PC) decompressing on every core, and costs a
 * busy server (many reads in flight, each on its own worker) no more than a queued no-op.
 */
final class TaskBatch implements Runnable {
    private final List<Runnable> tasks;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicInteger unfinished;
    private final Thread caller;
    private volatile Throwable failure;

    private TaskBatch(List<Runnable> tasks, Thread caller) {
        this.tasks = tasks;
        this.unfinished = new AtomicInteger(tasks.size());
        this.caller = caller;
    }

    /**
     * Runs every task of {@code tasks}, with up to {@code helpers} threads of {@code executor}
     * joining in; returns when all have finished and throws the first failure (a
     * {@link RuntimeException} or {@link Error}) of any of them.
     */
    static void runAll(List<Runnable> tasks, Executor executor, int helpers) {
        TaskBatch batch = new TaskBatch(tasks, Thread.currentThread());
        int wanted = executor == null ? 0 : Math.min(helpers, tasks.size() - 1);
        for (int k = 0; k < wanted; k++) {
            try {
                executor.execute(batch);
            } catch (RejectedExecutionException e) {
                break; // shutting down: the caller does the rest
            }
        }
        batch.work();
        while (batch.unfinished.get() > 0) {
            LockSupport.park(batch);
        }
        Throwable e = batch.failure;
        if (e instanceof RuntimeException r) {
            throw r;
        }
        if (e instanceof Error r) {
            throw r;
        }
    }

    /** A helper's turn: take tasks until none are left. */
    @Override
    public void run() {
        work();
    }

    private void work() {
        for (int i; (i = next.getAndIncrement()) < tasks.size(); ) {
            try {
                tasks.get(i).run();
            } catch (RuntimeException | Error e) {
                if (failure == null) {
                    failure = e;
                }
            } finally {
                if (unfinished.decrementAndGet() == 0 && Thread.currentThread() != caller) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }
}
