package dev.branchboot.agent.http;

import dev.branchboot.qcow2.ByteSource;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Sequential read-ahead over a slow source, and nothing for random access.
 *
 * <p>A read that starts where a recent read ended (within 4 KiB: compressed clusters overlap by a
 * partial sector) continues a stream; from the second continuation on, each one doubles that
 * stream's read-ahead from 64 KiB up to the maximum, and the bytes past the request are kept in a
 * window.
 * A read that continues no stream goes straight to the source for exactly the bytes asked: a random
 * 4 KiB read of a compressed image costs one compressed cluster, never a window.
 *
 * <p>Read-ahead is for a lone sequential reader (a PC booting reads at queue depth one): while
 * another read is in progress, and for a second after reads last overlapped, nothing is read ahead,
 * because a client with many requests in flight (nbdcopy, qemu-img) keeps the network busy itself
 * and its reads would overtake the windows and fetch bytes twice (its queue empties for a moment
 * now and then, which must not start a window under reads already on their way). Windows are single-flight: a read that falls in a window being fetched waits
 * for it, and a read that starts inside a window fetches only what lies past it. Finished windows
 * are kept, oldest dropped first, up to four times the maximum.
 */
final class ReadAheadSource implements ByteSource {
    private static final int FIRST_AHEAD = 64 << 10;
    /** A read starting this close to a recent read's end continues its stream. */
    private static final long NEAR = 4 << 10;
    /** Continuations before read-ahead starts, so that two random reads that happen to touch do not start it. */
    private static final int TRIGGER = 2;
    private static final int STREAMS = 16;
    /** How long after reads last overlapped read-ahead stays off. */
    private static final long QUIET_NANOS = 1_000_000_000L;

    private final ByteSource below;
    private final int maxAhead;
    private final long budget;
    private final HttpStats stats;
    private final long size;
    private final ArrayDeque<Stream> streams = new ArrayDeque<>();
    private final List<Window> windows = new ArrayList<>();
    private long windowBytes;
    /** Reads in progress: read-ahead is for a lone sequential reader (a booting PC), see {@link #read}. */
    private int inFlight;
    /** When a read last started while another was in progress. */
    private long lastOverlapNanos = System.nanoTime() - QUIET_NANOS;

    private static final class Stream {
        long end;
        int hits;
        int ahead;

        Stream(long end) {
            this.end = end;
        }
    }

    private static final class Window {
        final long start;
        final long end;
        final CompletableFuture<byte[]> data = new CompletableFuture<>();

        Window(long start, long end) {
            this.start = start;
            this.end = end;
        }
    }

    ReadAheadSource(ByteSource below, int maxAhead, HttpStats stats) throws IOException {
        this.below = below;
        this.maxAhead = maxAhead;
        this.budget = 4L * maxAhead;
        this.stats = stats;
        this.size = below.size();
    }

    @Override
    public String name() {
        return below.name();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public Object identity() {
        return below.identity();
    }

    @Override
    public ByteSource resolveSibling(String name) throws IOException {
        return below.resolveSibling(name);
    }

    @Override
    public int read(long position, ByteBuffer dst) throws IOException {
        long end = Math.min(size, position + dst.remaining());
        if (position >= end) {
            return 0;
        }
        int ahead;
        synchronized (this) {
            ahead = continueStream(position, end);
            // A client with many reads in flight (nbdcopy, qemu-img) already keeps the network busy;
            // reading ahead for it only fetches bytes twice, as its reads overtake the windows.
            long now = System.nanoTime();
            if (inFlight > 0) {
                lastOverlapNanos = now;
            }
            if (now - lastOverlapNanos < QUIET_NANOS) {
                ahead = 0;
            }
            inFlight++;
        }
        try {
            return readThrough(position, end, ahead, dst);
        } finally {
            synchronized (this) {
                inFlight--;
            }
        }
    }

    private int readThrough(long position, long end, int ahead, ByteBuffer dst) throws IOException {
        long pos = position;
        boolean allFromWindows = true;
        while (pos < end) {
            Window window;
            boolean fetch = false;
            long directEnd = -1;
            synchronized (this) {
                window = containing(pos);
                if (window == null) {
                    Window next = firstAfter(pos);
                    allFromWindows = false;
                    if (ahead == 0) {
                        // Random access: exactly the bytes asked for, never kept here.
                        directEnd = next == null ? end : Math.min(end, next.start);
                    } else {
                        long fetchEnd = Math.min(size, end + ahead);
                        if (next != null) {
                            fetchEnd = Math.min(fetchEnd, next.start);
                        }
                        window = new Window(pos, fetchEnd);
                        windows.add(window);
                        windowBytes += fetchEnd - pos;
                        fetch = true;
                    }
                }
            }
            int at = dst.position() + (int) (pos - position);
            if (directEnd >= 0) {
                below.readFully(pos, dst.slice(at, (int) (directEnd - pos)));
                pos = directEnd;
                continue;
            }
            if (fetch) {
                fill(window);
            }
            byte[] data = await(window);
            long copyEnd = Math.min(end, window.end);
            dst.put(at, data, (int) (pos - window.start), (int) (copyEnd - pos));
            pos = copyEnd;
        }
        if (allFromWindows) {
            stats.readAheadHits.increment();
        }
        stats.bytesRead.add(end - position);
        dst.position(dst.position() + (int) (end - position));
        return (int) (end - position);
    }

    /** Records the read in its stream; returns the read-ahead for it (0 when it continues no stream). */
    private int continueStream(long position, long end) {
        for (Iterator<Stream> it = streams.iterator(); it.hasNext(); ) {
            Stream s = it.next();
            if (position >= s.end - NEAR && position <= s.end + NEAR) {
                s.hits++;
                if (maxAhead > 0 && s.hits >= TRIGGER) {
                    s.ahead = s.ahead == 0 ? Math.min(maxAhead, FIRST_AHEAD) : Math.min(maxAhead, s.ahead * 2);
                }
                s.end = Math.max(s.end, end);
                it.remove();
                streams.addFirst(s);
                return s.ahead;
            }
        }
        if (streams.size() >= STREAMS) {
            streams.removeLast();
        }
        streams.addFirst(new Stream(end));
        return 0;
    }

    private Window containing(long pos) {
        for (Window w : windows) {
            if (w.start <= pos && pos < w.end && !w.data.isCompletedExceptionally()) {
                return w;
            }
        }
        return null;
    }

    private Window firstAfter(long pos) {
        Window best = null;
        for (Window w : windows) {
            if (w.start > pos && (best == null || w.start < best.start)) {
                best = w;
            }
        }
        return best;
    }

    private void fill(Window window) throws IOException {
        try {
            byte[] data = new byte[(int) (window.end - window.start)];
            below.readFully(window.start, ByteBuffer.wrap(data));
            window.data.complete(data);
        } catch (IOException | RuntimeException e) {
            window.data.completeExceptionally(e);
            synchronized (this) {
                windows.remove(window);
                windowBytes -= window.end - window.start;
            }
            throw e;
        }
        synchronized (this) {
            evict();
        }
    }

    /** Drops the oldest finished windows beyond the budget. */
    private void evict() {
        for (Iterator<Window> it = windows.iterator(); it.hasNext() && windowBytes > budget; ) {
            Window w = it.next();
            if (w.data.isDone()) {
                it.remove();
                windowBytes -= w.end - w.start;
            }
        }
    }

    private static byte[] await(Window window) throws IOException {
        try {
            return window.data.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for read-ahead");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException(e.getCause());
        }
    }

    @Override
    public void close() throws IOException {
        below.close();
    }
}
