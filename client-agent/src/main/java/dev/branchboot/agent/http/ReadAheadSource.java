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
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Sequential read-ahead over a slow source, fetched in the background, and nothing for random
 * access.
 *
 * <p>A read that starts where a recent read ended (within 4 KiB: compressed clusters overlap by a
 * partial sector) continues a stream; from the second continuation on, the stream reads ahead
 * half as far as it has read so far (at least 64 KiB, at most the maximum), so that a stream that
 * stops has fetched at most half again what it used. The bytes up to the read-ahead past the
 * stream's furthest read are fetched by background threads in windows of a quarter of the maximum
 * read-ahead (at most 1 MiB), so the network works while the reader decompresses and several
 * windows are on their way at once; a read that falls in a window waits for that window only. A read that continues no stream goes straight
 * to the source for exactly the bytes asked: a random 4 KiB read of a compressed image costs one
 * compressed cluster, never a window.
 *
 * <p>Several readers may share a stream (nbdcopy and the kernel keep a few sequential requests in
 * flight): their reads continue it in any order within 4 KiB, and windows start only past every
 * byte already asked for, and never over bytes a direct read is fetching, so no byte is fetched
 * twice. Window buffers are reused (fresh memory costs a page fault per 4 KiB); at most twice the
 * maximum read-ahead is held, oldest unused window dropped first.
 *
 * <p>Windows also skip what was fetched before, by a window or a direct read: those bytes are in the
 * image reader's caches (or were used and dropped by the reader above), and a boot's streams keep
 * running into ranges its scattered reads already fetched. In the recorded Debian boot, a third of
 * the windows' bytes had been fetched before (14 of 40 MB; {@code bench/agent-read-ahead.sh}). The
 * memory is a set of merged ranges, forgotten whole past {@link #REMEMBERED} ranges. Bytes a window
 * fetched that no read used before the window was let go are counted as waste
 * ({@code branchboot_agent_read_ahead_unused_bytes_total}).
 */
final class ReadAheadSource implements ByteSource {
    private static final int FIRST_AHEAD = 64 << 10;
    /** The largest window: big enough for few requests, small enough that the reader waits little. */
    private static final int MAX_WINDOW = 1 << 20;
    /** A read starting this close to a recent read's end continues its stream. */
    private static final long NEAR = 4 << 10;
    /** Continuations before read-ahead starts, so that two random reads that happen to touch do not start it. */
    private static final int TRIGGER = 2;
    private static final int STREAMS = 16;
    /** How far past a stream's end a read may start and still count as part of its run. */
    private static final long OVERTAKE = 1 << 20;
    /** The most separate fetched ranges remembered: a boot's make a few thousand. */
    private static final int REMEMBERED = 1 << 16;

    private final ByteSource below;
    private final int maxAhead;
    private final int windowSize;
    /** The most window buffers held at once. */
    private final int maxBuffers;
    private final HttpStats stats;
    private final Executor fetcher;
    private final long size;
    private final ArrayDeque<Stream> streams = new ArrayDeque<>();
    /**
     * The ranges fetched or being fetched, oldest first: windows, and the direct reads in flight,
     * which windows must not fetch again. Windows never overlap each other or a direct read.
     */
    private final List<Span> spans = new ArrayList<>();
    /** Window buffers not in use. */
    private final ArrayDeque<byte[]> spare = new ArrayDeque<>();
    /** What was fetched so far (merged ranges, start to end), so that windows fetch none of it again. */
    private final java.util.TreeMap<Long, Long> fetchedBefore = new java.util.TreeMap<>();
    private int buffers;

    private static final class Stream {
        /** Where the run the stream belongs to started: its own first read, or an earlier stream's it overtook. */
        final long start;
        /** Where the stream's own first read started: every byte from here to {@code end} was asked for. */
        final long readFrom;
        long end;
        int hits;
        int ahead;
        /** How far windows have been started for this stream. */
        long aheadEnd;

        Stream(long start, long readFrom, long end) {
            this.start = start;
            this.readFrom = readFrom;
            this.end = end;
        }
    }

    /**
     * A range of the file on its way: a window (fetched in the background into {@code data} and
     * kept for readers) or a direct read (a reader's own bytes, into its buffer: no data here).
     */
    private static final class Span {
        final long start;
        final long end;
        /** The window's bytes; null for a direct read. */
        final byte[] data;
        final CompletableFuture<Void> fetched;
        /** Readers copying from (or waiting for) this window; it is not reused while any are. */
        int readers;
        /** Bytes readers have copied out of this window: once its length, it is spent. */
        long copied;

        private Span(long start, long end, byte[] data) {
            this.start = start;
            this.end = end;
            this.data = data;
            this.fetched = data == null ? null : new CompletableFuture<>();
        }

        static Span window(long start, long end, byte[] data) {
            return new Span(start, end, data);
        }

        static Span direct(long start, long end) {
            return new Span(start, end, null);
        }

        boolean isWindow() {
            return data != null;
        }
    }

    /**
     * Read-ahead of up to {@code maxAhead} bytes (0: none) over {@code below}, fetched on
     * {@code fetcher}'s threads.
     */
    ReadAheadSource(ByteSource below, int maxAhead, HttpStats stats, Executor fetcher) throws IOException {
        this.below = below;
        this.maxAhead = maxAhead;
        // A quarter of the read-ahead per window (up to 1 MiB), and buffers for twice the read-ahead.
        this.windowSize = Math.max(4096, Math.min(MAX_WINDOW, maxAhead / 4));
        this.maxBuffers = (int) Math.max(2, 2L * maxAhead / windowSize);
        this.stats = stats;
        this.fetcher = fetcher;
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
        synchronized (this) {
            Stream stream = continueStream(position, end);
            if (stream != null && stream.ahead > 0) {
                startWindows(stream);
            }
        }
        long pos = position;
        boolean allFromWindows = true;
        while (pos < end) {
            Span window;
            Span direct = null;
            synchronized (this) {
                window = spanAt(pos, true);
                if (window != null) {
                    window.readers++;
                } else {
                    Span next = firstAfter(pos, true);
                    direct = Span.direct(pos, next == null ? end : Math.min(end, next.start));
                    spans.add(direct);
                }
            }
            int at = dst.position() + (int) (pos - position);
            if (direct != null) {
                allFromWindows = false;
                boolean fetched = false;
                try {
                    below.readFully(pos, dst.slice(at, (int) (direct.end - pos)));
                    fetched = true;
                } finally {
                    synchronized (this) {
                        spans.remove(direct);
                        if (fetched) {
                            remember(direct.start, direct.end);
                        }
                    }
                }
                pos = direct.end;
                continue;
            }
            try {
                await(window);
                long copyEnd = Math.min(end, window.end);
                dst.put(at, window.data, (int) (pos - window.start), (int) (copyEnd - pos));
                synchronized (this) {
                    window.copied += copyEnd - pos;
                }
                pos = copyEnd;
            } finally {
                synchronized (this) {
                    window.readers--;
                }
            }
        }
        stats.read(end - position, allFromWindows);
        dst.position(dst.position() + (int) (end - position));
        return (int) (end - position);
    }

    /** Records the read in its stream; returns the stream it continues, or null for a new one. */
    private Stream continueStream(long position, long end) {
        for (Iterator<Stream> it = streams.iterator(); it.hasNext(); ) {
            Stream s = it.next();
            if (position >= s.end - NEAR && position <= s.end + NEAR) {
                s.hits++;
                s.end = Math.max(s.end, end);
                if (maxAhead > 0 && s.hits >= TRIGGER) {
                    // Half as far ahead as the stream has read so far: a stream that stops (a
                    // file ends) has fetched at most half again what it used.
                    s.ahead = (int) Math.min(maxAhead, Math.max(FIRST_AHEAD, (s.end - s.start) / 2));
                }
                it.remove();
                streams.addFirst(s);
                return s;
            }
        }
        // A read that overtook the reads just before it (several in flight) belongs to their run:
        // it starts a stream of its own but counts that run's length.
        long start = position;
        for (Stream s : streams) {
            if (position > s.end && position - s.end <= OVERTAKE) {
                start = s.start;
                break;
            }
        }
        if (streams.size() >= STREAMS) {
            streams.removeLast();
        }
        streams.addFirst(new Stream(start, position, end));
        return null;
    }

    /**
     * Starts background fetches of what lies between the stream's furthest read and its read-ahead,
     * in whole windows (half the read-ahead while that is smaller) except at the end of the file.
     */
    private void startWindows(Stream s) {
        long target = Math.min(size, s.end + s.ahead);
        long from = Math.max(s.aheadEnd, s.end);
        long smallest = Math.min(windowSize, Math.max(FIRST_AHEAD, s.ahead / 2));
        while (from < target) {
            Span taken = spanAt(from, false);
            if (taken != null) {
                from = taken.end;
                continue;
            }
            // Bytes another stream's reads asked for were fetched by them, even once their direct
            // reads are over (a read that overtook this stream's end and finished first).
            long readByOther = readByAnotherStream(s, from);
            if (readByOther > from) {
                from = readByOther;
                continue;
            }
            long fetched = fetchedEnd(from);
            if (fetched > from) {
                from = fetched;
                continue;
            }
            long to = Math.min(target, from + windowSize);
            Span next = firstAfter(from, false);
            if (next != null) {
                to = Math.min(to, next.start);
            }
            Long nextFetched = fetchedBefore.higherKey(from);
            if (nextFetched != null) {
                to = Math.min(to, nextFetched);
            }
            if (to - from < smallest && to == target && target < size) {
                break; // not yet worth a request of its own
            }
            byte[] buffer = takeBuffer();
            if (buffer == null) {
                break; // every buffer is in use: the reader catches up first
            }
            Span w = Span.window(from, to, buffer);
            spans.add(w);
            try {
                fetcher.execute(() -> fill(w));
            } catch (RejectedExecutionException e) {
                drop(w, new IOException(name() + ": read-ahead stopped (closing)", e));
                break;
            }
            from = to;
        }
        s.aheadEnd = Math.max(s.aheadEnd, from);
    }

    /** The end of what another stream's reads covered at {@code pos}, or {@code pos} when none did. */
    private long readByAnotherStream(Stream s, long pos) {
        for (Stream other : streams) {
            if (other != s && other.readFrom <= pos && pos < other.end) {
                return other.end;
            }
        }
        return pos;
    }

    private void fill(Span w) {
        try {
            below.readFully(w.start, ByteBuffer.wrap(w.data, 0, (int) (w.end - w.start)));
            stats.readAheadFetched(w.end - w.start);
            synchronized (this) {
                remember(w.start, w.end);
            }
            w.fetched.complete(null);
        } catch (IOException | RuntimeException | Error e) {
            synchronized (this) {
                drop(w, e);
            }
        }
    }

    /** Records {@code [start, end)} as fetched, merged with its neighbours. Call with the monitor held. */
    private void remember(long start, long end) {
        if (fetchedBefore.size() >= REMEMBERED) {
            fetchedBefore.clear(); // a long run's old ranges: at worst some bytes are fetched again
        }
        var before = fetchedBefore.floorEntry(start);
        if (before != null && before.getValue() >= start) {
            start = before.getKey();
            end = Math.max(end, before.getValue());
        }
        var after = fetchedBefore.ceilingEntry(start);
        while (after != null && after.getKey() <= end) {
            end = Math.max(end, after.getValue());
            fetchedBefore.remove(after.getKey());
            after = fetchedBefore.ceilingEntry(start);
        }
        fetchedBefore.put(start, end);
    }

    /** The end of the fetched range holding {@code pos}, or {@code pos} when none does. Call with the monitor held. */
    private long fetchedEnd(long pos) {
        var range = fetchedBefore.floorEntry(pos);
        return range != null && range.getValue() > pos ? range.getValue() : pos;
    }

    /** Lets a fetched window go (its buffer reused): what no read copied out of it was fetched for nothing. */
    private void release(Span w) {
        long unused = (w.end - w.start) - Math.min(w.copied, w.end - w.start);
        if (unused > 0 && !w.fetched.isCompletedExceptionally()) {
            stats.readAheadUnused(unused);
        }
    }

    /** Forgets a window that could not be fetched; its readers get the failure. */
    private void drop(Span w, Throwable failure) {
        spans.remove(w);
        spare.push(w.data);
        w.fetched.completeExceptionally(failure);
    }

    /**
     * A window buffer: a spare one, a new one within the bound, or that of the oldest spent window
     * (all of it copied out), else of the oldest window nobody is reading; null when all are in use.
     */
    private byte[] takeBuffer() {
        if (!spare.isEmpty()) {
            return spare.pop();
        }
        if (buffers < maxBuffers) {
            buffers++;
            return new byte[windowSize];
        }
        // A spent window first. Several streams start windows out of offset order, so the oldest
        // window may be one ahead that nobody has read yet: reusing it would fetch it again.
        for (boolean spentOnly : new boolean[] {true, false}) {
            for (Iterator<Span> it = spans.iterator(); it.hasNext(); ) {
                Span w = it.next();
                if (w.isWindow() && w.fetched.isDone() && w.readers == 0 && (!spentOnly || w.copied >= w.end - w.start)) {
                    it.remove();
                    release(w);
                    return w.data;
                }
            }
        }
        return null;
    }

    /** The span holding {@code pos}: a window, or with {@code windowsOnly} false also a direct read. */
    private Span spanAt(long pos, boolean windowsOnly) {
        for (Span span : spans) {
            if (span.start <= pos && pos < span.end && (span.isWindow() || !windowsOnly)) {
                return span;
            }
        }
        return null;
    }

    /** The span that starts first after {@code pos} (a window, or with {@code windowsOnly} false any span). */
    private Span firstAfter(long pos, boolean windowsOnly) {
        Span best = null;
        for (Span span : spans) {
            if (span.start > pos && (best == null || span.start < best.start) && (span.isWindow() || !windowsOnly)) {
                best = span;
            }
        }
        return best;
    }

    private static void await(Span window) throws IOException {
        try {
            window.fetched.get();
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
