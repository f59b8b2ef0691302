package dev.branchboot.server.cache;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;

/**
 * Group commit for one file: writers that finished writing at about the same time share one
 * {@code fdatasync}. A writer takes a ticket when its write is done and waits until a force that
 * began after that point has completed; a force in progress cannot cover it (it may have started
 * before the write), so the writer waits for the next one, which then covers everyone who arrived
 * meanwhile. Twenty boot reads missing at once thus cost a couple of forces, not twenty.
 */
final class SyncBarrier {
    private final FileChannel channel;
    /** Writes finished so far; a write's ticket is the count including it. */
    private long finished;
    /** Every write with a ticket up to this is durable. */
    private long durable;
    private boolean forcing;

    SyncBarrier(FileChannel channel) {
        this.channel = channel;
    }

    /** Records a finished write and returns its ticket for {@link #awaitDurable}. */
    synchronized long writeFinished() {
        return ++finished;
    }

    /**
     * Returns once the write with {@code ticket} is on disk, forcing the file when no force that
     * covers it is running.
     *
     * @throws IOException when the force fails; the write is then of unknown durability
     */
    void awaitDurable(long ticket) throws IOException {
        long covers;
        synchronized (this) {
            while (true) {
                if (durable >= ticket) {
                    return;
                }
                if (!forcing) {
                    forcing = true;
                    covers = finished;
                    break;
                }
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while waiting for the cache disk");
                }
            }
        }
        boolean forced = false;
        try {
            channel.force(false);
            forced = true;
        } finally {
            synchronized (this) {
                if (forced) {
                    durable = Math.max(durable, covers);
                }
                forcing = false;
                notifyAll();
            }
        }
    }
}
