package dev.branchboot.agent.trace;

import dev.branchboot.agent.http.FetchListener;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * A record of every read an agent serves and of the image-file ranges fetched for it, one text
 * line per event, for replaying a real boot elsewhere ({@code bench/bootstorm}) and for seeing
 * what a boot reads. The format, version 1:
 *
 * <pre>
 * # branchboot-trace 1
 * # image NAME size VIRTUAL_SIZE          (once the image is open)
 * # file INDEX PATH                        (an image file, before its first fetch)
 * R START_US DURATION_US OFFSET LENGTH [FILE:OFFSET+LENGTH ...]
 * F START_US DURATION_US FILE:OFFSET+LENGTH
 * </pre>
 *
 * {@code R} is a read of the virtual disk as the NBD client asked for it, with the ranges fetched
 * over HTTP on its own thread while it was served; {@code F} is a fetch made in the background
 * (read-ahead), for no one read. Times are microseconds since the trace started; a read's line is
 * written when it ends, so lines are in order of completion, not of start.
 *
 * <p>Lines are buffered and written out every 200 ms and at {@link #close()}: a trace to a serial
 * port of a virtual machine must not slow the boot it records by a write per read, and the agent
 * of a root disk is never stopped in order, so the buffer cannot wait for the end.
 */
public final class ReadTrace implements FetchListener, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ReadTrace.class.getName());

    private final Path path;
    private final BufferedWriter out;
    private final long startNanos = System.nanoTime();
    private final Map<String, Integer> files = new HashMap<>();
    private final ThreadLocal<StringBuilder> currentFetches = new ThreadLocal<>();
    private final ScheduledExecutorService flusher;
    private boolean failed;

    private ReadTrace(Path path, BufferedWriter out) {
        this.path = path;
        this.out = out;
        this.flusher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "trace-flush");
            t.setDaemon(true);
            return t;
        });
        flusher.scheduleWithFixedDelay(this::flush, 200, 200, TimeUnit.MILLISECONDS);
    }

    /**
     * Starts a trace into {@code path}: a file (created or truncated) or a character device such
     * as a serial port.
     */
    public static ReadTrace start(Path path) throws IOException {
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(Files.newOutputStream(path), StandardCharsets.UTF_8),
                1 << 16);
        ReadTrace trace = new ReadTrace(path, out);
        trace.line("# branchboot-trace 1");
        return trace;
    }

    /** Names the image once it is open: {@code image} with a virtual disk of {@code virtualSize} bytes. */
    public void describe(String image, long virtualSize) {
        line("# image " + image.replace('\n', ' ') + " size " + virtualSize);
    }

    /** Marks the calling thread as serving a read, so the fetches it makes are attributed to it. */
    void beginRead() {
        currentFetches.set(new StringBuilder());
    }

    /** Ends the calling thread's read of {@code length} bytes at {@code offset}, begun at {@code beganNanos}. */
    void endRead(long beganNanos, long offset, int length) {
        StringBuilder fetches = currentFetches.get();
        currentFetches.remove();
        long now = System.nanoTime();
        line("R " + micros(beganNanos) + ' ' + (now - beganNanos) / 1000 + ' ' + offset + ' ' + length
                + (fetches == null ? "" : fetches));
    }

    @Override
    public void fetched(String file, long offset, int length, long started, long ended) {
        String range = fileIndex(file) + ":" + offset + "+" + length;
        StringBuilder fetches = currentFetches.get();
        if (fetches != null) {
            fetches.append(' ').append(range);
        } else {
            line("F " + micros(started) + ' ' + (ended - started) / 1000 + ' ' + range);
        }
    }

    private int fileIndex(String file) {
        synchronized (this) {
            Integer index = files.get(file);
            if (index == null) {
                index = files.size();
                files.put(file, index);
                line("# file " + index + " " + file.replace('\n', ' '));
            }
            return index;
        }
    }

    private long micros(long nanos) {
        return (nanos - startNanos) / 1000;
    }

    private synchronized void line(String text) {
        if (failed) {
            return;
        }
        try {
            out.write(text);
            out.write('\n');
        } catch (IOException e) {
            fail(e);
        }
    }

    private synchronized void flush() {
        if (failed) {
            return;
        }
        try {
            out.flush();
        } catch (IOException e) {
            fail(e);
        }
    }

    private void fail(IOException e) {
        // A trace is a diagnostic: losing it must never disturb the disk it records.
        failed = true;
        LOG.warning("the read trace to " + path + " stopped: " + e.getMessage());
    }

    /** Writes out what is buffered and closes the file. */
    @Override
    public void close() {
        flusher.shutdownNow();
        synchronized (this) {
            flush();
            try {
                out.close();
            } catch (IOException e) {
                if (!failed) {
                    fail(e);
                }
            }
        }
    }
}
