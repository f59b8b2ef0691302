package dev.branchboot.agent.cat;

import dev.branchboot.qcow2.Allocation;
import dev.branchboot.qcow2.Extent;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Copies a whole virtual disk out as raw bytes. Only ranges that hold data are read; they are read
 * and decompressed in fixed-size chunks by several threads while the chunks are written out in
 * order, with a bounded number of chunks in memory.
 */
final class DiskCopier {
    /** How much of the disk's allocation map is asked for at once. */
    private static final long MAP_WINDOW = 1L << 30;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    private final VirtualDisk disk;
    private final int threads;
    private final int chunkSize;
    private final boolean sync;
    private final ProgressReporter progress;

    DiskCopier(VirtualDisk disk, int threads, int chunkSize, boolean sync, ProgressReporter progress) {
        this.disk = disk;
        this.threads = threads;
        this.chunkSize = chunkSize;
        this.sync = sync;
        this.progress = progress;
    }

    /** Receives the data chunks: on the reader threads when {@code parallel}, else in disk order on the caller's. */
    private interface ChunkSink {
        void accept(long offset, ByteBuffer data) throws IOException;
    }

    /**
     * Writes the disk to {@code target}. A regular file (or a new one) is written sparse under a
     * temporary name next to it, made durable if asked, and renamed over {@code target}; anything else (a
     * block device, a pipe) is written in place with every byte, zeros included.
     */
    void copyToPath(Path target) throws IOException {
        if (Files.exists(target) && !Files.isRegularFile(target)) {
            try (FileChannel channel = FileChannel.open(target, StandardOpenOption.WRITE)) {
                copyToStream(channel);
            }
            return;
        }
        Path absolute = target.toAbsolutePath();
        Path directory = absolute.getParent();
        if (directory == null || !Files.isDirectory(directory)) {
            throw new IOException("cannot write " + target + ": directory " + directory + " does not exist");
        }
        Path temp = directory.resolve("." + absolute.getFileName() + ".partial-" + ProcessHandle.current().pid());
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                // Positional writes need no order, so each reader writes its own chunk.
                copy(true, (offset, data) -> {
                    while (data.hasRemaining()) {
                        channel.write(data, offset + data.position());
                    }
                });
                long size = disk.size();
                if (channel.size() < size) {
                    // Extend over the trailing hole without writing it.
                    channel.write(ByteBuffer.allocate(1), size - 1);
                }
                if (sync) {
                    channel.force(true);
                }
            }
            Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
    }

    /** Writes every byte of the disk, holes as zeros, to {@code out} in order. */
    void copyToStream(WritableByteChannel out) throws IOException {
        long[] written = {0};
        copy(false, (offset, data) -> {
            writeZeros(out, offset - written[0]);
            while (data.hasRemaining()) {
                out.write(data);
            }
            written[0] = offset + data.limit();
        });
        writeZeros(out, disk.size() - written[0]);
    }

    private static void writeZeros(WritableByteChannel out, long count) throws IOException {
        long left = count;
        while (left > 0) {
            ByteBuffer zeros = ZEROS.duplicate();
            zeros.limit((int) Math.min(zeros.capacity(), left));
            while (zeros.hasRemaining()) {
                left -= out.write(zeros);
            }
        }
    }

    private void copy(boolean parallelSink, ChunkSink sink) throws IOException {
        AtomicInteger threadNumber = new AtomicInteger();
        ExecutorService readers = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "cat-reader-" + threadNumber.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        int maxInFlight = threads * 2;
        ArrayDeque<Future<ByteBuffer>> inFlight = new ArrayDeque<>();
        ArrayDeque<Long> offsets = new ArrayDeque<>();
        ArrayDeque<ByteBuffer> spare = new ArrayDeque<>();
        long size = disk.size();
        try {
            for (long window = 0; window < size; window += MAP_WINDOW) {
                long windowLength = Math.min(MAP_WINDOW, size - window);
                for (Extent extent : disk.extents(window, windowLength)) {
                    if (extent.allocation() != Allocation.DATA) {
                        continue;
                    }
                    long pos = extent.offset();
                    while (pos < extent.end()) {
                        long chunkEnd = Math.min(extent.end(), (pos / chunkSize + 1) * chunkSize);
                        if (inFlight.size() >= maxInFlight) {
                            spare.add(drainOne(inFlight, offsets, parallelSink ? null : sink, size));
                        }
                        // Direct buffers: the channel writes them without another copy.
                        ByteBuffer buffer = spare.isEmpty() ? ByteBuffer.allocateDirect(chunkSize) : spare.poll();
                        buffer.clear().limit((int) (chunkEnd - pos));
                        long chunkOffset = pos;
                        offsets.add(chunkOffset);
                        inFlight.add(readers.submit(() -> {
                            disk.read(chunkOffset, buffer);
                            buffer.flip();
                            if (parallelSink) {
                                sink.accept(chunkOffset, buffer);
                                buffer.rewind();
                            }
                            return buffer;
                        }));
                        pos = chunkEnd;
                    }
                }
                if (inFlight.isEmpty()) {
                    // Nothing pending: everything up to here was holes or is written.
                    progress.update(window + windowLength, size);
                }
            }
            while (!inFlight.isEmpty()) {
                drainOne(inFlight, offsets, parallelSink ? null : sink, size);
            }
            progress.update(size, size);
        } finally {
            readers.shutdownNow();
        }
    }

    /** Waits for the oldest chunk and hands it to {@code sink} (unless the reader already wrote it). */
    private ByteBuffer drainOne(ArrayDeque<Future<ByteBuffer>> inFlight, ArrayDeque<Long> offsets, ChunkSink sink, long size)
            throws IOException {
        long offset = offsets.poll();
        ByteBuffer data;
        try {
            data = inFlight.poll().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while reading " + disk.name());
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof UncheckedIOException u) {
                throw u.getCause();
            }
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new IOException("reading " + disk.name() + " at " + offset + " failed", cause);
        }
        if (sink != null) {
            sink.accept(offset, data);
        }
        progress.update(offset + data.limit(), size);
        return data;
    }
}
