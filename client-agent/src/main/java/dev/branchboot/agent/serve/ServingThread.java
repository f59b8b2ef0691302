package dev.branchboot.agent.serve;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code serve} on a thread of its own inside a command that does more around it ({@code attach}
 * connects the kernel, {@code train} reads like a kernel). Its unix socket appears once it listens
 * (serve renames it into place), SIGTERM raised in this process stops it as it stops serve alone,
 * and its exit status, or what it threw, is there once the thread ends.
 */
public final class ServingThread {
    private final Thread thread;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile int status = 1;

    private ServingThread(ServeCommand serve) {
        thread = new Thread(() -> {
            try {
                status = serve.serve();
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "serve");
    }

    /** Starts {@code serve}, configured with {@link ServeCommand#configured}. */
    public static ServingThread start(ServeCommand serve) {
        ServingThread serving = new ServingThread(serve);
        serving.thread.start();
        return serving;
    }

    /**
     * Waits until {@code socket} exists, serve ends, or {@code limit} passes ({@code null}: no
     * limit); returns whether the socket is there.
     */
    public boolean awaitListening(Path socket, Duration limit) throws InterruptedException {
        long deadline = limit == null ? 0 : System.nanoTime() + limit.toNanos();
        while (!Files.exists(socket) && thread.isAlive() && (limit == null || System.nanoTime() - deadline < 0)) {
            thread.join(10);
        }
        return Files.exists(socket);
    }

    /** Whether serve is still running. */
    public boolean isAlive() {
        return thread.isAlive();
    }

    /** What serve threw, or {@code null}. */
    public Throwable failure() {
        return failure.get();
    }

    /**
     * Stops serve the way SIGTERM stops it (it finishes requests in flight) and waits up to 30 s.
     * Only once it listens: serve catches SIGTERM from then on, and before that the signal would
     * end the whole process.
     */
    @SuppressWarnings("restriction")
    public void stop() throws InterruptedException {
        if (thread.isAlive()) {
            sun.misc.Signal.raise(new sun.misc.Signal("TERM"));
            thread.join(30_000);
        }
    }

    /** Gives up on a serve that never started listening: interrupts it (it has no SIGTERM handler yet). */
    public void abandon() {
        thread.interrupt();
    }

    /** Waits until serve ends, then returns its exit status or throws what it threw. */
    public int result() throws Exception {
        thread.join();
        Throwable t = failure.get();
        if (t instanceof Exception e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return status;
    }
}
